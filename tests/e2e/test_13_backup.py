"""Backups that restore: the controller's backup of the accounting database and slurmctld's state
is taken, both are wiped, gpucluster-restore puts them back, and every job of before is found."""

from __future__ import annotations

import time

from test_07_faults import job, sacct_states, submit, wait_for

BACKUPS = "/var/backups/gpucluster"  # backup["path"]'s default; the rig does not set it
STATE = "/var/lib/slurm/slurmctld"
SAVE_MAX_WAIT = 5  # slurmctld writes a change to its state files within 5 s (state_save.c)


def test_the_timer_is_set_and_a_backup_is_root_only(second_deploy, rig):
    timers = rig.run("node0", "systemctl list-timers --all --no-legend gpucluster-backup.timer").stdout
    assert "gpucluster-backup.timer" in timers and "gpucluster-backup.service" in timers
    for node in ("node1", "node2"):
        assert rig.run(node, "test -e /usr/local/sbin/gpucluster-backup", check=False).returncode != 0
    rig.run("node0", "systemctl start gpucluster-backup.service")
    newest = rig.run("node0", f"ls -1d {BACKUPS}/*Z | tail -1").stdout.strip()
    listing = rig.run("node0", f"stat -c '%a %U %n' {BACKUPS} {newest} {newest}/*").stdout.split("\n")
    modes = [line.split() for line in listing if line]
    assert [m[2].rsplit("/", 1)[-1] for m in modes[2:]] == [
        "keys.tar.gz",
        "slurm_acct_db.sql.gz",
        "statesave.tar.gz",
    ]
    assert [m[:2] for m in modes] == [["700", "root"]] * 2 + [["600", "root"]] * 3
    keys = rig.run("node0", f"tar -tzf {newest}/keys.tar.gz").stdout.split()
    assert {"etc/munge/munge.key", "etc/slurm/slurmdbd-storage.conf", "etc/ssh/ssh_host_ed25519_key"} <= set(
        keys
    )
    state = rig.run("node0", f"tar -tzf {newest}/statesave.tar.gz").stdout.split()
    assert f"{STATE[1:]}/jwt_hs256.key" in state and f"{STATE[1:]}/job_state" in state


def test_a_wiped_database_and_state_come_back_with_every_job(second_deploy, rig):
    finished = [submit(rig, f'-o /dev/null --wrap "echo {i}"') for i in range(3)]
    queued = submit(rig, '--hold -o /dev/null --wrap "true"')
    wait_for(
        lambda: (
            set(sacct_states(rig, finished).values()) == {"COMPLETED"}
            and len(sacct_states(rig, finished)) == 3
        ),
        90,
        "the finished jobs in sacct",
        rig,
    )
    assert job(rig, queued)["JobState"] == "PENDING"
    time.sleep(SAVE_MAX_WAIT + 1)
    rig.run("node0", "systemctl start gpucluster-backup.service")
    newest = rig.run("node0", f"ls -1d {BACKUPS}/*Z | tail -1").stdout.strip()

    rig.run("node0", "systemctl stop slurmctld slurmdbd")
    rig.run("node0", f"mariadb -e 'DROP DATABASE slurm_acct_db' && find {STATE} -mindepth 1 -delete")
    assert "slurm_acct_db" not in rig.run("node0", "mariadb -N -e 'SHOW DATABASES'").stdout
    assert rig.run("node0", f"ls -A {STATE}").stdout == ""

    restored = rig.run("node0", f"gpucluster-restore {newest}")
    assert f"restored from {newest}" in restored.stdout
    wait_for(lambda: rig.run("node0", "scontrol ping", check=False).returncode == 0, 60, "slurmctld", rig)
    assert sacct_states(rig, finished) == dict.fromkeys(finished, "COMPLETED")
    held = wait_for(lambda: job(rig, queued).get("JobState") and job(rig, queued), 30, "the queue", rig)
    assert (held["JobState"], held["Reason"]) == ("PENDING", "JobHeldUser")

    daemons = "slurmctld slurmdbd slurmrestd"
    assert rig.run("node0", f"systemctl is-active {daemons}").stdout.split() == ["active"] * 3

    # Refused once in CI right after a restore (exit 1; its message was not kept): tried again for
    # up to 30 s, and the refusal is shown if it never goes through.
    release = f"su - {rig.admin_user} -c 'scontrol release {queued}'"
    deadline = time.time() + 30
    while (result := rig.run("node0", release, check=False)).returncode != 0:
        assert time.time() < deadline, f"the held job is not released: {result.stdout}{result.stderr}"
        time.sleep(2)
    wait_for(lambda: sacct_states(rig, [queued]) == {queued: "COMPLETED"}, 120, "the queued job to run", rig)
    wait_for(lambda: rig.run("node0", "sinfo -h -N -o %T").stdout.split() == ["idle"] * 3, 120, "idle", rig)


def test_a_restore_from_a_folder_that_is_no_backup_changes_nothing(second_deploy, rig):
    result = rig.run("node0", "gpucluster-restore /tmp", check=False)
    assert result.returncode == 2
    assert "/tmp holds no backup: statesave.tar.gz is missing" in result.stderr
    assert rig.run("node0", "systemctl is-active slurmctld slurmdbd").stdout.split() == ["active", "active"]
