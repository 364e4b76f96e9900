"""The deploy's steps: one module per concern, each with one @deploy ``configure()`` that deploy.py
calls in the order deploy.py's STEPS states (an operation only one step uses lives beside it)."""
