"""The embedded engine: a built bundle evaluated in-process with regorus."""
