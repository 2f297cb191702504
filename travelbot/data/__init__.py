"""Travel data: corpus, golden answers, loaders, Reddit ingestion and one dataset per method."""
