"""The domain: pipelines, runs and their steps, events, endpoints. No IPython, no SDK."""
