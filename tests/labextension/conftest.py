"""The browser fixtures (a served JupyterLab or Notebook 7, a Chromium page, the artifacts folder)
are defined with the first browser tests; every browser test module here gets them."""

from test_browser_e2e import artifacts, lab_server, notebook7_server, page  # noqa: F401
