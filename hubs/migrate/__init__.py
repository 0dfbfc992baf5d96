"""Migration from a legacy system into the hubs (issue 11, work in progress)."""
