"""Container registries: configuration, authentication and the distribution-API client."""
