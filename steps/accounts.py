"""The same accounts on every node: Slurm runs each task as the submitter's numeric UID.

- munge and slurm get fixed IDs (service_accounts), created before their packages would pick
  their own. A node where they already exist with other IDs stops the run, with the fix.
- Research users (users) exist everywhere with the same IDs and SSH keys, in one shared group.
  A member of that group who is no longer listed loses access: the account expires, its keys are
  removed and its processes ended; its files stay, and listing it again restores it.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import server

from facts.system import Accounts
from model.spec import ClusterSpec, current
from operations import files
from operations.accounts import system_user
from operations.plan import node_fact

SHELL = "/bin/bash"


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
    _group(found, group.name, group.gid)
    for user in spec.users:
        _group(found, user.name, user.group_id)
        home, groups = f"/home/{user.name}", [group.name, *(["sudo"] if user.sudo else [])]
        if not user_in_place(found, user.name, user.uid, user.group_id, home, groups):
            server.user(
                name=f"User {user.name} ({user.uid})",
                user=user.name,
                uid=user.uid,
                group=user.name,
                groups=groups,
                home=home,
                shell=SHELL,
                create_home=True,
                ensure_home=False,
            )
        # what server.user's ensure_home and public_keys (delete_keys) make, read in the host's one reading
        files.directory(name=f"{home}", path=home, user=user.name, group=user.name, _no_fail_on_link=True)
        files.directory(name=f"{home}/.ssh", path=f"{home}/.ssh", user=user.name, group=user.name, mode="700")
        files.put(
            name=f"{user.name}'s SSH keys",
            src=StringIO("\n".join(user.keys) + "\n"),
            dest=f"{home}/.ssh/authorized_keys",
            user=user.name,
            group=user.name,
            mode="600",
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


def _group(found: dict, name: str, gid: int) -> None:
    """server.group, left out where the group exists with its ID (server.group reads it again)."""
    if found["groups"].get(name, {}).get("gid") != gid:
        server.group(name=f"Group {name} ({gid})", group=name, gid=gid)


def user_in_place(found: dict, name: str, uid: int, gid: int, home: str, groups: list[str]) -> bool:
    """Whether a person's account is as server.user would leave it: its IDs, home, shell and exactly
    these other groups (server.user reads three facts to find that out)."""
    user = found["users"].get(name)
    if not user:
        return False
    member_of = {group for group, info in found["groups"].items() if name in info["members"]}
    found_as = (user["uid"], user["gid"], user["home"], user["shell"], member_of)
    return found_as == (uid, gid, home, SHELL, set(groups))


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
