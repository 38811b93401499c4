"""The Docker engine seam and the containers steps run in."""
