"""Optional plugins with extra dependencies; each imports its client library lazily."""
