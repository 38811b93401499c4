"""Deployments: debug images, Model.package images, scoring containers."""
