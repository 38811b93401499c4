"""Where endpoints are found: tailing step logs, locally (files) and on Azure (Blob over HTTP)."""
