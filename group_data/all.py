"""This cluster's settings: only what it sets. Every setting, with its default, what it is for and
the fix for a wrong value, is in docs/settings.md (made from model/spec.py, where each is declared
once); a dict setting here replaces only the keys it names. The spec validates all of it before a
run: a name that is no setting stops the run, naming the close match."""

cluster_name = "gpucluster"
cluster_network = "192.168.1.0/24"  # the wired subnet; every cluster_ip must lie in it

# The deploying machine's key pair; its public key is authorized for the admin user.
deployer_ssh_key = "~/.ssh/id_ed25519"

# Research users: removing one from the list removes their access on every node (files stay).
users = [
    # {"name": "ada", "uid": 2001, "keys": ["ssh-ed25519 AAAA... ada@laptop"], "sudo": False},
]

# Every operation runs with sudo as the admin user (the password is asked for or passed in).
_sudo = True
