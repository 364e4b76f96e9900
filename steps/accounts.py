"""The same accounts on every node: Slurm runs each task as the submitter's numeric UID.

- munge and slurm get fixed IDs (service_accounts), created before their packages would pick
  their own. A node where they already exist with other IDs stops the run, with the fix.
- Research users (users) exist everywhere with the same IDs and SSH keys, in one shared group.
  A member of that group who is no longer listed loses access: the account expires, its keys are
  removed and its processes ended; its files stay, and listing it again restores it.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import server

from facts.system import Accounts
from model.spec import ClusterSpec, current
from operations.accounts import system_user
from operations.plan import node_fact


@deploy("Accounts")
def configure():
    spec = current()
    found = node_fact(host.name, Accounts)
    problems = conflicts(spec, found)
    if problems:
        listed = "\n  - ".join(problems)
        raise PyinfraError(f"{host.name}: account IDs disagree; nothing was changed.\n  - {listed}")

    for name, uid in spec.service_accounts.items():
        system_user(name, uid)

    group = spec.research_group
    server.group(name=f"Group {group.name} ({group.gid})", group=group.name, gid=group.gid)
    for user in spec.users:
        server.group(name=f"Group {user.name} ({user.group_id})", group=user.name, gid=user.group_id)
        server.user(
            name=f"User {user.name} ({user.uid})",
            user=user.name,
            uid=user.uid,
            group=user.name,
            groups=[group.name, *(["sudo"] if user.sudo else [])],
            home=f"/home/{user.name}",
            shell="/bin/bash",
            create_home=True,
            public_keys=list(user.keys),
            delete_keys=True,
        )
        if found["users"].get(user.name, {}).get("expires"):
            server.shell(
                name=f"Restore {user.name}'s access (listed again)",
                commands=[f"usermod --expiredate '' {user.name}"],
            )
    listed = {user.name for user in spec.users}
    for name in sorted(set(found["groups"].get(group.name, {}).get("members", [])) - listed):
        home = found["users"].get(name, {}).get("home", f"/home/{name}")
        server.shell(
            name=f"Revoke {name}'s access (no longer in users)",
            commands=[
                f"usermod --expiredate 1 --shell /usr/sbin/nologin {name}",
                f"rm -f {home}/.ssh/authorized_keys",
                f"pkill -KILL -u {name} || true",
                f"gpasswd -d {name} {group.name}",
            ],
        )


def conflicts(spec: ClusterSpec, found: dict) -> list[str]:
    """Where the node's existing users and groups disagree with the IDs the spec wants."""
    users, groups = found["users"], found["groups"]
    wanted = [(name, uid, uid, True) for name, uid in spec.service_accounts.items()]
    wanted += [(u.name, u.uid, u.group_id, False) for u in spec.users]
    problems = []
    for name, uid, gid, service in wanted:
        have = users.get(name)
        if have and have["uid"] != uid:
            fix = (
                f"stop munge, slurmd and slurmctld, then `usermod -u {uid} {name}`, "
                f"`groupmod -g {gid} {name}` and "
                f"`find / -xdev -uid {have['uid']} -exec chown -h {name} {{}} +`"
                if service
                else f"`usermod -u {uid} {name}` there, or set {name}'s uid to {have['uid']} everywhere"
            )
            problems.append(f"user {name} has UID {have['uid']}, expected {uid}; fix: {fix}")
        if name in groups and groups[name]["gid"] != gid:
            problems.append(
                f"group {name} has GID {groups[name]['gid']}, expected {gid}; fix: `groupmod -g {gid} {name}`"
            )
        for other, info in users.items():
            if other != name and info["uid"] == uid:
                problems.append(
                    f"UID {uid} for {name} is taken by {other}; fix: choose another in group_data"
                )
    group = spec.research_group
    for other, info in groups.items():
        if other != group.name and info["gid"] == group.gid:
            problems.append(
                f"GID {group.gid} for {group.name} is taken by {other}; fix: choose another in group_data"
            )
    return problems
