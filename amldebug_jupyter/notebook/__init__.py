"""The notebook faces: magics, display, widgets panel, the comm to the JupyterLab extension, kernelspec.

Only this package knows a notebook exists.
"""
