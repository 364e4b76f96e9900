"""One module per concern; each exposes one @deploy entry point that reads the cluster spec."""
