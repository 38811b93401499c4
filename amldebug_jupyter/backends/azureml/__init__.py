"""The Azure ML (SDK v1) backend: steps on Azure, and the service calls it makes."""
