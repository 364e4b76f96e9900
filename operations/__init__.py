"""The project's own operations, built on pyinfra's, and the helpers the steps plan with: a tree
synced in one read (sync.py), a rendered template (render.py), a daemon's account (accounts.py),
values one host needs from another and services left running (plan.py)."""
