"""Nomad's ``api`` structs (2.0.x) as data: what ``gohcl`` decodes and what the JSON shows.

Each struct is written as its Go fields, one a line: ``Name GoType [hcl-tag] [omitempty]``, in
declaration order, which is the order of Go's JSON. The hcl tag is the struct tag's value
(``region,optional``, ``group,block``, ``name,label``); a field without one is set by the server,
never by a jobspec. From these lines come the HCL schema of each block (attributes, blocks and
their labels, required arguments) and the JSON of a fresh struct: nil pointers, slices and maps
are ``null``, plain Go values are their zero value, ``omitempty`` zero values are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Copied from api/jobs.go, api/tasks.go, api/services.go, api/resources.go, api/consul.go,
# api/constraint.go, api/scaling.go, api/task_sched.go and api/csi.go.
_DEFINITIONS = """
Job
    Region *string region,optional
    Namespace *string namespace,optional
    ID *string id,optional
    Name *string name,optional
    Type *string type,optional
    Priority *int priority,optional
    AllAtOnce *bool all_at_once,optional
    Datacenters []string datacenters,optional
    NodePool *string node_pool,optional
    Constraints []*Constraint constraint,block
    Affinities []*Affinity affinity,block
    TaskGroups []*TaskGroup group,block
    Update *UpdateStrategy update,block
    Multiregion *Multiregion multiregion,block
    Spreads []*Spread spread,block
    Periodic *PeriodicConfig periodic,block
    ParameterizedJob *ParameterizedJobConfig parameterized,block
    Reschedule *ReschedulePolicy reschedule,block
    Migrate *MigrateStrategy migrate,block
    Meta map[string]string meta,block
    UI *JobUIConfig ui,block
    Stop *bool
    ParentID *string
    Dispatched bool
    DispatchIdempotencyToken *string
    Payload []byte
    ConsulNamespace *string
    VaultNamespace *string
    NomadTokenID *string
    Status *string
    StatusDescription *string
    Stable *bool
    Version *uint64
    SubmitTime *int64
    CreateIndex *uint64
    ModifyIndex *uint64
    JobModifyIndex *uint64
    VersionTag *JobVersionTag

UpdateStrategy
    Stagger *time.Duration stagger,optional
    MaxParallel *int max_parallel,optional
    HealthCheck *string health_check,optional
    MinHealthyTime *time.Duration min_healthy_time,optional
    HealthyDeadline *time.Duration healthy_deadline,optional
    ProgressDeadline *time.Duration progress_deadline,optional
    Canary *int canary,optional
    AutoRevert *bool auto_revert,optional
    AutoPromote *bool auto_promote,optional

Multiregion
    Strategy *MultiregionStrategy strategy,block
    Regions []*MultiregionRegion region,block

MultiregionStrategy
    MaxParallel *int max_parallel,optional
    OnFailure *string on_failure,optional

MultiregionRegion
    Name string ,label
    Count *int count,optional
    Datacenters []string datacenters,optional
    NodePool string node_pool,optional
    Meta map[string]string meta,block

PeriodicConfig
    Enabled *bool enabled,optional
    Spec *string cron,optional
    Specs []string crons,optional
    SpecType *string
    ProhibitOverlap *bool prohibit_overlap,optional
    TimeZone *string time_zone,optional

ParameterizedJobConfig
    Payload string payload,optional
    MetaRequired []string meta_required,optional
    MetaOptional []string meta_optional,optional

JobUIConfig
    Description string description,optional
    Links []*JobUILink link,block

JobUILink
    Label string label,optional
    URL string url,optional

Constraint
    LTarget string attribute,optional
    RTarget string value,optional
    Operand string operator,optional

Affinity
    LTarget string attribute,optional
    RTarget string value,optional
    Operand string operator,optional
    Weight *int8 weight,optional

Spread
    Attribute string attribute,optional
    Weight *int8 weight,optional
    SpreadTarget []*SpreadTarget target,block

SpreadTarget
    Value string ,label
    Percent uint8 percent,optional

RestartPolicy
    Interval *time.Duration interval,optional
    Attempts *int attempts,optional
    Delay *time.Duration delay,optional
    Mode *string mode,optional
    RenderTemplates *bool render_templates,optional

DisconnectStrategy
    LostAfter *time.Duration lost_after,optional
    StopOnClientAfter *time.Duration stop_on_client_after,optional
    Replace *bool replace,optional
    Reconcile *string reconcile,optional

ReschedulePolicy
    Attempts *int attempts,optional
    Interval *time.Duration interval,optional
    Delay *time.Duration delay,optional
    DelayFunction *string delay_function,optional
    MaxDelay *time.Duration max_delay,optional
    Unlimited *bool unlimited,optional

EphemeralDisk
    Sticky *bool sticky,optional
    Migrate *bool migrate,optional
    SizeMB *int size,optional

MigrateStrategy
    MaxParallel *int max_parallel,optional
    HealthCheck *string health_check,optional
    MinHealthyTime *time.Duration min_healthy_time,optional
    HealthyDeadline *time.Duration healthy_deadline,optional

VolumeRequest
    Name string name,label
    Type string type,optional
    Source string source,optional
    ReadOnly bool read_only,optional
    Sticky bool sticky,optional
    AccessMode string access_mode,optional
    AttachmentMode string attachment_mode,optional
    MountOptions *CSIMountOptions mount_options,block
    PerAlloc bool per_alloc,optional

CSIMountOptions
    FSType string fs_type,optional
    MountFlags []string mount_flags,optional

VolumeMount
    Volume *string volume,optional
    Destination *string destination,optional
    ReadOnly *bool read_only,optional
    PropagationMode *string propagation_mode,optional
    SELinuxLabel *string selinux_label,optional

TaskGroup
    Name *string name,label
    Count *int count,optional
    Constraints []*Constraint constraint,block
    Affinities []*Affinity affinity,block
    Tasks []*Task task,block
    Spreads []*Spread spread,block
    Volumes map[string]*VolumeRequest volume,block
    RestartPolicy *RestartPolicy restart,block
    Disconnect *DisconnectStrategy disconnect,block
    ReschedulePolicy *ReschedulePolicy reschedule,block
    EphemeralDisk *EphemeralDisk ephemeral_disk,block
    Update *UpdateStrategy update,block
    Migrate *MigrateStrategy migrate,block
    Networks []*NetworkResource network,block
    Meta map[string]string meta,block
    Services []*Service service,block
    ShutdownDelay *time.Duration shutdown_delay,optional
    MaxRunDuration *time.Duration max_run_duration,optional
    StopAfterClientDisconnect *time.Duration stop_after_client_disconnect,optional
    MaxClientDisconnect *time.Duration max_client_disconnect,optional
    Scaling *ScalingPolicy scaling,block
    Consul *Consul consul,block
    PreventRescheduleOnLost *bool prevent_reschedule_on_lost,optional

LogConfig
    MaxFiles *int max_files,optional
    MaxFileSizeMB *int max_file_size,optional
    Enabled *bool enabled,optional
    Disabled *bool disabled,optional

DispatchPayloadConfig
    File string file,optional

TaskLifecycle
    Hook string hook
    Sidecar bool sidecar,optional

Task
    Name string name,label
    Driver string driver,optional
    User string user,optional
    Lifecycle *TaskLifecycle lifecycle,block
    Config map[string]any config,block
    Constraints []*Constraint constraint,block
    Affinities []*Affinity affinity,block
    Env map[string]string env,block
    Services []*Service service,block
    Resources *Resources resources,block
    RestartPolicy *RestartPolicy restart,block
    Meta map[string]string meta,block
    KillTimeout *time.Duration kill_timeout,optional
    LogConfig *LogConfig logs,block
    Artifacts []*TaskArtifact artifact,block
    Vault *Vault vault,block
    Consul *Consul consul,block
    Templates []*Template template,block
    DispatchPayload *DispatchPayloadConfig dispatch_payload,block
    VolumeMounts []*VolumeMount volume_mount,block
    CSIPluginConfig *TaskCSIPluginConfig csi_plugin,block omitempty
    Leader bool leader,optional
    ShutdownDelay time.Duration shutdown_delay,optional
    KillSignal string kill_signal,optional
    Kind string kind,optional
    ScalingPolicies []*ScalingPolicy scaling,block
    Secrets []*Secret secret,block
    Identity *WorkloadIdentity
    Identities []*WorkloadIdentity identity,block
    Actions []*Action action,block
    Schedule *TaskSchedule schedule,block

TaskArtifact
    GetterSource *string source,optional
    GetterOptions map[string]string options,block
    GetterHeaders map[string]string headers,block
    GetterMode *string mode,optional
    GetterInsecure *bool insecure,optional
    RelativeDest *string destination,optional
    Chown bool chown,optional

WaitConfig
    Min *time.Duration min
    Max *time.Duration max

ChangeScript
    Command *string command
    Args []string args,optional
    Timeout *time.Duration timeout,optional
    FailOnError *bool fail_on_error
    RunOnFirstRender *bool run_on_first_render,optional

Template
    SourcePath *string source,optional
    DestPath *string destination,optional
    EmbeddedTmpl *string data,optional
    ChangeMode *string change_mode,optional
    ChangeScript *ChangeScript change_script,block
    ChangeSignal *string change_signal,optional
    Once *bool once,optional
    Splay *time.Duration splay,optional
    Perms *string perms,optional
    Uid *int uid,optional
    Gid *int gid,optional
    LeftDelim *string left_delimiter,optional
    RightDelim *string right_delimiter,optional
    Envvars *bool env,optional
    VaultGrace *time.Duration vault_grace,optional
    Wait *WaitConfig wait,block
    ErrMissingKey *bool error_on_missing_key,optional

Vault
    Policies []string policies,optional
    Role string role,optional
    Namespace *string namespace,optional
    Cluster string cluster,optional
    Env *bool env,optional
    DisableFile *bool disable_file,optional
    ChangeMode *string change_mode,optional
    ChangeSignal *string change_signal,optional
    AllowTokenExpiration *bool allow_token_expiration,optional

Secret
    Name string name,label
    Provider string provider,optional
    Path string path,optional
    Config map[string]any config,block
    Env map[string]string env,block

TaskCSIPluginConfig
    ID string id,optional
    Type string type,optional
    MountDir string mount_dir,optional
    StagePublishBaseDir string stage_publish_base_dir,optional
    HealthTimeout time.Duration health_timeout,optional

WorkloadIdentity
    Name string name,optional
    Audience []string aud,optional
    ChangeMode string change_mode,optional
    ChangeSignal string change_signal,optional
    Env bool env,optional
    File bool file,optional
    Filepath string filepath,optional
    ServiceName string service_name,optional
    TTL time.Duration ttl,optional
    ExtraClaims []string extra_claims,optional

Action
    Name string name,label
    Command string command
    Args []string args,optional

TaskSchedule
    Cron *TaskScheduleCron cron,block

TaskScheduleCron
    Start string start,optional
    End string end,optional
    Timezone string timezone,optional

Resources
    CPU *int cpu,optional
    Cores *int cores,optional
    MemoryMB *int memory,optional
    MemoryMaxMB *int memory_max,optional
    DiskMB *int disk,optional
    Networks []*NetworkResource network,block
    Devices []*RequestedDevice device,block
    NUMA *NUMAResource numa,block
    SecretsMB *int secrets,optional
    IOPS *int iops,optional

NUMAResource
    Affinity string affinity,optional
    Devices []string devices,optional

RequestedDevice
    Name string ,label
    Count *uint64 count,optional
    Constraints []*Constraint constraint,block
    Affinities []*Affinity affinity,block

Port
    Label string ,label
    Value int static,optional
    To int to,optional
    HostNetwork string host_network,optional
    IgnoreCollision bool ignore_collision,optional

DNSConfig
    Servers []string servers,optional
    Searches []string searches,optional
    Options []string options,optional

CNIConfig
    Args map[string]string args,optional

NetworkResource
    Mode string mode,optional
    Device string device,optional
    CIDR string cidr,optional
    IP string ip,optional
    DNS *DNSConfig dns,block
    ReservedPorts []Port reserved_ports,block
    DynamicPorts []Port port,block
    Hostname string hostname,optional
    MBits *int mbits,optional
    CNI *CNIConfig cni,block

Consul
    Namespace string namespace,optional
    Cluster string cluster,optional
    Partition string partition,optional

CheckRestart
    Limit int limit,optional
    Grace *time.Duration grace,optional
    IgnoreWarnings bool ignore_warnings,optional

ServiceCheck
    Name string name,optional
    Type string type,optional
    Command string command,optional
    Args []string args,optional
    Path string path,optional
    Protocol string protocol,optional
    PortLabel string port,optional
    Expose bool expose,optional
    AddressMode string address_mode,optional
    Advertise string advertise,optional
    Interval time.Duration interval,optional
    Timeout time.Duration timeout,optional
    InitialStatus string initial_status,optional
    Notes string notes,optional
    TLSServerName string tls_server_name,optional
    TLSSkipVerify bool tls_skip_verify,optional
    Header map[string][]string header,block
    Method string method,optional
    CheckRestart *CheckRestart check_restart,block
    GRPCService string grpc_service,optional
    GRPCUseTLS bool grpc_use_tls,optional
    TaskName string task,optional
    SuccessBeforePassing int success_before_passing,optional
    FailuresBeforeCritical int failures_before_critical,optional
    FailuresBeforeWarning int failures_before_warning,optional
    Body string body,optional
    OnUpdate string on_update,optional

ServiceWeights
    Passing int passing,optional
    Warning int warning,optional

Service
    Name string name,optional
    Tags []string tags,optional
    CanaryTags []string canary_tags,optional
    EnableTagOverride bool enable_tag_override,optional
    PortLabel string port,optional
    AddressMode string address_mode,optional
    Address string address,optional
    Checks []ServiceCheck check,block
    CheckRestart *CheckRestart check_restart,block
    Connect *ConsulConnect connect,block
    Meta map[string]string meta,block
    CanaryMeta map[string]string canary_meta,block
    TaggedAddresses map[string]string tagged_addresses,block
    TaskName string task,optional
    OnUpdate string on_update,optional
    Identity *WorkloadIdentity identity,block
    Weights *ServiceWeights weights,block
    Provider string provider,optional
    Cluster string cluster,optional
    Kind string kind,optional

ScalingPolicy
    Min *int64 min,optional
    Max *int64 max,optional
    Policy map[string]any policy,block
    Enabled *bool enabled,optional
    Type string type,optional
    ID string
    Namespace string
    Target map[string]string
    CreateIndex uint64
    ModifyIndex uint64
"""

#: a time.Duration is a number of nanoseconds in Nomad's JSON
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

#: Structs valid in a Nomad jobspec that this parser does not decode; a block of one is
#: refused with an error naming it. (Consul service mesh: sidecars, gateways, upstreams...)
UNSUPPORTED_STRUCTS = {"ConsulConnect": "Consul Connect (service mesh) configuration"}

#: Go integer types and the range gocty accepts for them
INT_RANGES = {
    "int": (-(2**63), 2**63 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "int8": (-128, 127),
    "uint8": (0, 255),
    "uint64": (0, 2**64 - 1),
}


@dataclass(frozen=True)
class GoField:
    """One field of an api struct."""

    name: str
    go_type: str
    #: the hcl tag's name (``""`` for an unnamed label) and kind, or None without a tag
    hcl_name: str | None
    hcl_kind: str | None
    omitempty: bool

    @property
    def pointer(self) -> bool:
        return self.go_type.startswith("*")

    @property
    def base(self) -> str:
        """The type without a pointer, slice or map around it: ``Constraint``, ``string``."""
        base = self.go_type
        for prefix in ("[]", "*", "map[string]"):
            base = base.removeprefix(prefix)
        return base.removeprefix("*").removeprefix("[]")

    @property
    def is_attribute(self) -> bool:
        return self.hcl_kind in ("attr", "optional")

    @property
    def is_block(self) -> bool:
        return self.hcl_kind == "block"

    @property
    def is_label(self) -> bool:
        return self.hcl_kind == "label"

    @property
    def required(self) -> bool:
        """gohcl: an attribute without ``optional`` is required unless it is a pointer."""
        return self.hcl_kind == "attr" and not self.pointer

    def zero(self) -> Any:
        """The field's value in a fresh struct, as Go's JSON shows it."""
        kind = self.go_type
        if kind.startswith(("*", "[]", "map[")):
            return None
        if kind in ("string",):
            return ""
        if kind == "bool":
            return False
        if kind in INT_RANGES or kind == "time.Duration":
            return 0
        return new_struct(kind)


@dataclass(frozen=True)
class GoStruct:
    name: str
    fields: tuple[GoField, ...]

    def field(self, name: str) -> GoField:
        return next(f for f in self.fields if f.name == name)

    @property
    def labels(self) -> list[GoField]:
        return [f for f in self.fields if f.is_label]


def _parse(text: str) -> dict[str, GoStruct]:
    structs: dict[str, GoStruct] = {}
    name: str | None = None
    fields: list[GoField] = []
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if name is not None:
                structs[name] = GoStruct(name, tuple(fields))
            name, fields = None, []
            continue
        if not line.startswith(" "):
            name = line.strip()
            continue
        words = line.split()
        tag = words[2] if len(words) > 2 and words[2] != "omitempty" else None
        hcl_name, hcl_kind = None, None
        if tag is not None:
            hcl_name, _, hcl_kind = tag.partition(",")
            hcl_kind = hcl_kind or "attr"
        fields.append(GoField(words[0], words[1], hcl_name, hcl_kind, words[-1] == "omitempty"))
    return structs


STRUCTS = _parse(_DEFINITIONS)


def new_struct(name: str) -> dict[str, Any]:
    """A fresh struct's JSON: every field at its zero value, ``omitempty`` ones left out."""
    struct = STRUCTS[name]
    return {f.name: f.zero() for f in struct.fields if not f.omitempty}
