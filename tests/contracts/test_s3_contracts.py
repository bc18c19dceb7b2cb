"""The blob-store contract over the S3 store, against a local S3-protocol server.

Every test uses its own key prefix in one bucket, so the suite could run twice at once.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.contrib.testing.contracts.artifacts import BlobStoreContract
from tests.contrib.s3.s3server import MotoServer, s3_config, s3_server  # noqa: F401 - a fixture

pytestmark = pytest.mark.s3


class TestS3BlobStore(BlobStoreContract):
    @pytest.fixture
    def blob_store(self, make_kernel: Any, s3_server: MotoServer) -> Any:  # noqa: F811
        # 5 MiB parts: the 8 MiB contract blob goes through a real multipart upload and copy
        kernel = make_kernel({"artifacts": {"backend": "s3"}, **s3_config(s3_server, part_size=5 << 20)})
        return kernel.create_backend("artifact_backend", "s3")


class TestS3BlobStoreMultipartCopy(BlobStoreContract):
    """The same contract with server-side copies done part by part (as above 5 GiB)."""

    @pytest.fixture
    def blob_store(self, make_kernel: Any, s3_server: MotoServer) -> Any:  # noqa: F811
        config = s3_config(s3_server, part_size=5 << 20, max_single_copy=5 << 20, copy_part_size=5 << 20)
        kernel = make_kernel({"artifacts": {"backend": "s3"}, **config})
        return kernel.create_backend("artifact_backend", "s3")
