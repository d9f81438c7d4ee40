"""``api.Job.Canonicalize()``: the defaults the parse endpoint fills in when asked to.

Each function follows the ``Canonicalize`` method of the api struct it names (api/jobs.go,
api/tasks.go, api/services.go, api/resources.go, api/consul.go, api/scaling.go), in the same
order, since later defaults depend on earlier ones (a group inherits the job's update strategy
only after the job's own was completed).
"""

from __future__ import annotations

import copy
import posixpath
from typing import Any

from .apistructs import HOUR, MINUTE, SECOND, new_struct

JSON = dict[str, Any]


def _fill(target: JSON, **defaults: Any) -> JSON:
    """Set every unset (None) field of ``target``."""
    for key, value in defaults.items():
        if target.get(key) is None:
            target[key] = copy.deepcopy(value)
    return target


def merge_set_fields(base: JSON, override: JSON | None) -> JSON:
    """The Go ``Merge`` methods: every set (non-None) field of ``override`` wins."""
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if value is not None:
            merged[key] = copy.deepcopy(value)
    return merged


def default_update() -> JSON:
    return {
        "Stagger": 30 * SECOND,
        "MaxParallel": 1,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * SECOND,
        "HealthyDeadline": 5 * MINUTE,
        "ProgressDeadline": 10 * MINUTE,
        "Canary": 0,
        "AutoRevert": False,
        "AutoPromote": False,
    }


def default_migrate() -> JSON:
    return {
        "MaxParallel": 1,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * SECOND,
        "HealthyDeadline": 5 * MINUTE,
    }


def default_restart(job_type: str) -> JSON:
    if job_type in ("service", "system"):
        return {
            "Interval": 30 * MINUTE,
            "Attempts": 2,
            "Delay": 15 * SECOND,
            "Mode": "fail",
            "RenderTemplates": False,
        }
    return {
        "Interval": 24 * HOUR,
        "Attempts": 3,
        "Delay": 15 * SECOND,
        "Mode": "fail",
        "RenderTemplates": False,
    }


def default_reschedule(job_type: str) -> JSON:
    if job_type == "service":
        return {
            "Attempts": 0,
            "Interval": 0,
            "Delay": 30 * SECOND,
            "DelayFunction": "exponential",
            "MaxDelay": HOUR,
            "Unlimited": True,
        }
    if job_type == "batch":
        return {
            "Attempts": 1,
            "Interval": 24 * HOUR,
            "Delay": 5 * SECOND,
            "DelayFunction": "constant",
            "MaxDelay": 0,
            "Unlimited": False,
        }
    # Other types (sysbatch, system, unknown) get an inert policy rather than none.
    return {
        "Attempts": 0,
        "Interval": 0,
        "Delay": 0,
        "DelayFunction": "",
        "MaxDelay": 0,
        "Unlimited": False,
    }


def update_is_empty(update: JSON) -> bool:
    """UpdateStrategy.Empty: no field set to anything but its zero value."""
    return not any(update.get(k) for k in default_update())


def canonicalize_job(job: JSON) -> None:
    """Job.Canonicalize, in place."""
    _fill(job, ID="")
    _fill(job, Name=job["ID"])
    _fill(
        job,
        ParentID="",
        Namespace="default",
        Priority=50,
        Stop=False,
        Region="global",
        NodePool="",
        Type="service",
        AllAtOnce=False,
        ConsulNamespace="",
        VaultNamespace="",
        NomadTokenID="",
        Status="",
        StatusDescription="",
        Stable=False,
        Version=0,
        CreateIndex=0,
        ModifyIndex=0,
        JobModifyIndex=0,
    )
    if job["Periodic"] is not None:
        periodic = job["Periodic"]
        _fill(periodic, Enabled=True, Spec="", Specs=[], SpecType="cron", ProhibitOverlap=False)
        if not periodic["TimeZone"]:
            periodic["TimeZone"] = "UTC"
    if job["Update"] is not None:
        _fill(job["Update"], **default_update())
    elif job["Type"] in ("service", "system"):
        job["Update"] = default_update()
    if job["Multiregion"] is not None:
        _canonicalize_multiregion(job["Multiregion"])
    for group in job["TaskGroups"] or []:
        _canonicalize_group(group, job)
    for item in (job["Spreads"] or []) + (job["Affinities"] or []):
        _fill(item, Weight=50)
    if job["UI"] is not None and not job["UI"]["Links"]:
        job["UI"]["Links"] = None


def _canonicalize_multiregion(multiregion: JSON) -> None:
    if multiregion["Strategy"] is None:
        multiregion["Strategy"] = {"MaxParallel": 0, "OnFailure": ""}
    else:
        _fill(multiregion["Strategy"], MaxParallel=0, OnFailure="")
    if multiregion["Regions"] is None:
        multiregion["Regions"] = []
    for region in multiregion["Regions"]:
        _fill(region, Count=1, Datacenters=[], Meta={})


def _canonicalize_group(group: JSON, job: JSON) -> None:
    """TaskGroup.Canonicalize."""
    job_type = job["Type"]
    _fill(group, Name="")
    scaling = group["Scaling"]
    if group["Count"] is None:
        group["Count"] = scaling["Min"] if scaling is not None and scaling["Min"] is not None else 1
    if scaling is not None:
        _fill(scaling, Enabled=True, Min=group["Count"])
        if scaling["Type"] == "":
            scaling["Type"] = "horizontal"
    group["EphemeralDisk"] = _fill(
        group["EphemeralDisk"] or {}, Sticky=False, Migrate=False, SizeMB=300
    )
    if group["Consul"] is not None:
        consul = group["Consul"]
        if consul["Namespace"] == "" and job["ConsulNamespace"] is not None:
            consul["Namespace"] = job["ConsulNamespace"]
        if consul["Cluster"] == "":
            consul["Cluster"] = "default"
    if job["Update"] is not None and group["Update"] is not None:
        group["Update"] = merge_set_fields(job["Update"], group["Update"])
    elif job["Update"] is not None and not update_is_empty(job["Update"]):
        group["Update"] = copy.deepcopy(job["Update"])
    if group["Update"] is not None:
        _fill(group["Update"], **default_update())
    if job["Reschedule"] is not None:
        group["ReschedulePolicy"] = merge_set_fields(job["Reschedule"], group["ReschedulePolicy"])
    if group["ReschedulePolicy"] is None and job_type not in ("sysbatch", "system"):
        group["ReschedulePolicy"] = default_reschedule(job_type)
    if group["ReschedulePolicy"] is not None:
        _fill(group["ReschedulePolicy"], **default_reschedule(job_type))
    if job["Migrate"] is not None:
        group["Migrate"] = merge_set_fields(job["Migrate"], group["Migrate"])
    if group["Migrate"] is None and job_type == "service":
        group["Migrate"] = new_struct("MigrateStrategy")
    if group["Migrate"] is not None:
        _fill(group["Migrate"], **default_migrate())
    group["RestartPolicy"] = merge_set_fields(default_restart(job_type), group["RestartPolicy"])
    for task in group["Tasks"] or []:
        _canonicalize_task(task, group, job)
    for item in (group["Spreads"] or []) + (group["Affinities"] or []):
        _fill(item, Weight=50)
    for service in group["Services"] or []:
        _canonicalize_service(service, None, group, job)
    if group["Disconnect"] is not None:
        _fill(group["Disconnect"], Replace=True, Reconcile="best_score")


def _canonicalize_task(task: JSON, group: JSON, job: JSON) -> None:
    """Task.Canonicalize."""
    resources = task["Resources"] or new_struct("Resources")
    if resources["Cores"] is None:
        resources["Cores"] = 0
        if resources["CPU"] is None:
            resources["CPU"] = 100
    if resources["CPU"] is None:
        resources["CPU"] = 0  # cores were requested instead of MHz
    _fill(resources, MemoryMB=300)
    for device in resources["Devices"] or []:
        _fill(device, Count=1)
        for affinity in device["Affinities"] or []:
            _fill(affinity, Weight=50)
    numa = resources["NUMA"]
    if numa is not None:
        numa["Affinity"] = numa["Affinity"] or "none"
        numa["Devices"] = numa["Devices"] or None
    task["Resources"] = resources
    _fill(task, KillTimeout=5 * SECOND)
    task["LogConfig"] = _fill(
        task["LogConfig"] or new_struct("LogConfig"), MaxFiles=10, MaxFileSizeMB=10, Disabled=False
    )
    for artifact in task["Artifacts"] or []:
        _canonicalize_artifact(artifact)
    if task["Vault"] is not None:
        vault = _fill(
            task["Vault"],
            Env=True,
            DisableFile=False,
            Namespace="",
            ChangeMode="restart",
            ChangeSignal="SIGHUP",
            AllowTokenExpiration=False,
        )
        vault["Cluster"] = vault["Cluster"] or "default"
    if task["Consul"] is not None:
        task["Consul"]["Cluster"] = task["Consul"]["Cluster"] or "default"
    for template in task["Templates"] or []:
        _canonicalize_template(template)
    for secret in task["Secrets"] or []:
        secret["Config"] = secret["Config"] or None
        secret["Env"] = secret["Env"] or None
    for service in task["Services"] or []:
        _canonicalize_service(service, task, group, job)
    for affinity in task["Affinities"] or []:
        _fill(affinity, Weight=50)
    for mount in task["VolumeMounts"] or []:
        _fill(mount, PropagationMode="private", ReadOnly=False, SELinuxLabel="")
    plugin = task.get("CSIPluginConfig")
    if plugin is not None:
        plugin["MountDir"] = plugin["MountDir"] or "/csi"
        plugin["StagePublishBaseDir"] = plugin["StagePublishBaseDir"] or "/local/csi"
        plugin["HealthTimeout"] = plugin["HealthTimeout"] or 30 * SECOND
    if task["RestartPolicy"] is None:
        task["RestartPolicy"] = copy.deepcopy(group["RestartPolicy"])
    else:
        task["RestartPolicy"] = merge_set_fields(group["RestartPolicy"], task["RestartPolicy"])


def _canonicalize_artifact(artifact: JSON) -> None:
    _fill(artifact, GetterMode="any", GetterInsecure=False, GetterSource="")
    artifact["GetterOptions"] = artifact["GetterOptions"] or None
    artifact["GetterHeaders"] = artifact["GetterHeaders"] or None
    if artifact["RelativeDest"] is None:
        if artifact["GetterMode"] == "file":
            artifact["RelativeDest"] = posixpath.join(
                "local", posixpath.basename(artifact["GetterSource"])
            )
        else:
            artifact["RelativeDest"] = "local/"


def _canonicalize_template(template: JSON) -> None:
    _fill(template, SourcePath="", DestPath="", EmbeddedTmpl="", ChangeMode="restart")
    if template["ChangeSignal"] is None:
        template["ChangeSignal"] = "SIGHUP" if template["ChangeMode"] == "signal" else ""
    else:
        template["ChangeSignal"] = template["ChangeSignal"].upper()
    if template["ChangeScript"] is not None:
        _fill(
            template["ChangeScript"],
            Command="",
            Args=[],
            Timeout=5 * SECOND,
            FailOnError=False,
            RunOnFirstRender=False,
        )
    _fill(
        template,
        Once=False,
        Splay=5 * SECOND,
        Perms="0644",
        LeftDelim="{{",
        RightDelim="}}",
        Envvars=False,
        ErrMissingKey=False,
        VaultGrace=0,
    )


def _canonicalize_service(service: JSON, task: JSON | None, group: JSON, job: JSON) -> None:
    """Service.Canonicalize."""
    if service["Name"] == "":
        parts = [job["Name"], group["Name"]] + ([task["Name"]] if task is not None else [])
        service["Name"] = "-".join(parts)
    service["AddressMode"] = service["AddressMode"] or "auto"
    service["OnUpdate"] = service["OnUpdate"] or "require_healthy"
    service["Provider"] = service["Provider"] or "consul"
    service["Cluster"] = service["Cluster"] or "default"
    for key in ("Meta", "CanaryMeta", "TaggedAddresses"):
        service[key] = service[key] or None
    weights = service["Weights"]
    if weights is not None:
        weights["Passing"] = weights["Passing"] if weights["Passing"] > 0 else 1
        weights["Warning"] = weights["Warning"] if weights["Warning"] > 0 else 1
    for check in service["Checks"] or []:
        check["CheckRestart"] = _merge_check_restart(service["CheckRestart"], check["CheckRestart"])
        if check["CheckRestart"] is not None:
            _fill(check["CheckRestart"], Grace=SECOND)
        for key in ("SuccessBeforePassing", "FailuresBeforeCritical", "FailuresBeforeWarning"):
            check[key] = max(check[key], 0)
        check["OnUpdate"] = check["OnUpdate"] or service["OnUpdate"]


def _merge_check_restart(service_level: JSON | None, check_level: JSON | None) -> JSON | None:
    """CheckRestart.Merge: the service's settings, overridden by the check's set ones."""
    if service_level is None:
        return copy.deepcopy(check_level)
    merged = copy.deepcopy(service_level)
    if check_level is None:
        return merged
    if check_level["Limit"] > 0:
        merged["Limit"] = check_level["Limit"]
    if check_level["Grace"] is not None:
        merged["Grace"] = check_level["Grace"]
    if check_level["IgnoreWarnings"]:
        merged["IgnoreWarnings"] = True
    return merged
