"""Units, errors, shared specifications, the clock seam and name registries."""
