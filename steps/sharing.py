"""Sharing the GPUs: the QoS jobs run under, the research group's Slurm account and a user
association per person in users, on the controller through sacctmgr.

slurm.conf (steps/slurm.py) enforces associations, limits and QoS, so only the people in users and
the admin run jobs. Runs after Slurm: sacctmgr finds slurmdbd through slurm.conf, and on a fresh
cluster slurmctld registers the cluster when it first starts. What sacctmgr reports is compared
with the spec (model/sharing.py), so a converged cluster gets no command. Until this step has run,
a pending job of someone without an association waits (reason InvalidAccount); none is lost.
"""

from __future__ import annotations

from pyinfra import host, state
from pyinfra.api import deploy
from pyinfra.api.state import StateStage
from pyinfra.operations import server

from facts.slurm import AccountingClusters, SlurmAssociations, SlurmQos
from model.sharing import account_changes, found_accounts, found_qos, qos_changes
from model.spec import ClusterSpec, current
from operations.plan import node_fact, when_known
from runbooks.remote import wait_for


@deploy("Sharing")
def configure():
    spec = current()
    if not spec.node(host.name).is_controller:
        return
    when_known("Accounts, associations and QoS", lambda: _found(spec), lambda found: _converge(spec, *found))


def _found(spec: ClusterSpec):
    """The QoS and associations sacctmgr reports, once the cluster is registered; while the deploy
    is planned, None on a fresh cluster (no slurm.conf yet); when the run reaches this step, up to
    a minute's wait for slurmctld to register the cluster."""

    def read():
        clusters = node_fact(host.name, AccountingClusters)  # read once while planning
        if not clusters or spec.cluster_name not in clusters:
            return None
        qos = host.get_fact(SlurmQos)
        accounts = host.get_fact(SlurmAssociations, cluster=spec.cluster_name)
        return None if qos is None or accounts is None else (qos, accounts)

    return read() if state.current_stage == StateStage.Prepare else wait_for(read, 60, every=2)


def _converge(spec: ClusterSpec, qos: dict, accounts: dict) -> list:
    changes = account_changes(spec, found_accounts(accounts))
    commands = qos_changes(spec, found_qos(qos))
    if commands:
        changes.insert(0, ("Set the QoS normal, scavenger, interactive and admin", commands))
    if changes:
        # slurmdbd sends each change to slurmctld as it is made; one made while slurmctld is still
        # starting (restarted by steps/slurm.py in this run) never reaches it (seen on the rig: a
        # QoS's MaxWall missing from slurmctld's view until its next restart).
        server.shell(
            name="Wait for slurmctld to answer",
            commands=["timeout 120 sh -c 'until scontrol ping | grep -q UP; do sleep 1; done'"],
        )
    return [server.shell(name=name, commands=commands) for name, commands in changes]
