<#
.SYNOPSIS
Exports the state of a Hyper-V failover cluster as an hvplan snapshot directory.

.DESCRIPTION
Run on a cluster node (or a management machine with the FailoverClusters and Hyper-V
PowerShell modules) as a user who may read the cluster and every node. The script reads:

  Get-Cluster                  AutoBalancerMode, AutoBalancerLevel, MaximumParallelMigrations,
                               ClusterEnforcedAntiAffinity                     -> cluster.csv
  Get-ClusterNode              Name, State, FaultDomain; else Get-ClusterFaultDomain
  Get-VMHost (per node)        LogicalProcessorCount, MemoryCapacity, MaximumVirtualMachineMigrations
  Win32_Processor (per node)   Manufacturer, Name (mapped to an hvplan CPU catalog model)
  Get-Counter (all nodes)      \Hyper-V Hypervisor Logical Processor(_Total)\% Total Run Time and
                               \Hyper-V Hypervisor Virtual Processor(*)\% Total Run Time
                                                                                -> hosts.csv
  Get-VM -ComputerName (each node)  Name, State, ProcessorCount, MemoryAssigned, CPUUsage, Version
  Get-VMProcessor              CompatibilityForMigrationEnabled, CompatibilityForMigrationMode
  Get-VMMemory                 DynamicMemoryEnabled, Startup, Minimum, Maximum
  Get-VMHostSupportedVersion -ComputerName (each node)  highest Version -> max_config_version
  Get-ClusterGroup             OwnerNode, Priority, AntiAffinityClassNames
  Get-ClusterOwnerNode         preferred owners (group) and possible owners (VM resource)
                                                                                -> vms.csv
  Get-ClusterAffinityRule -CimSession  Name, RuleType, Groups, Enabled (Windows Server 2022+)
                                                                                -> affinity_rules.csv
  Get-ClusterNetwork           Name, Role, Metric; the live-migration order comes from the
                               'Virtual Machine' resource type's MigrationNetworkOrder and
                               MigrationExcludeNetworks; the link speed from Get-NetAdapter
                                                                                -> networks.csv

Bytes are converted to MB (1 MB = 1,048,576 bytes). Numbers are written with a '.' decimal
point whatever the regional settings. Files are written with Export-Csv -NoTypeInformation
-Encoding UTF8, which hvplan reads as they are.

What the cluster does not know is left for you to fill in: allow_downtime (written False) and
pinned (written False, True for VMs on a node that are not clustered: the cluster cannot move
them but they use the node's resources), memory_reserve_mb (empty: hvplan's default applies
unless -MemoryReserveMB is given).

The CPU use of a VM is the average of its virtual processors' '% Total Run Time' over the
sampling window (SPEC: use of the VM's own vCPUs). When the counters cannot be read (for
example on a Windows installation whose counter names are localised) the VM's CPUUsage from
Get-VM is used instead: it is a share of the whole host, converted to a share of the VM's
vCPUs. The host's own CPU use (cpu_base_pct) is the hypervisor's total run time minus the
VMs' part; it is left empty when the counters cannot be read.

CPU models are matched from the processor name by generation (for example 'Xeon Gold 6338'
-> Icelake-Server, 'EPYC 7763' -> EPYC-Milan). Names the table does not know leave cpu_model
empty, and hvplan then assumes the vendor's minimum feature set; correct cpu_model or give
cpu_features in hosts.csv when you know better.

A node the cluster reports Down cannot be read and is left out with a warning (and from
the owner lists). A node reported Up or Paused that cannot be read stops the script unless
-SkipUnreachable is given (see there): a node is never written as empty because its VMs
could not be listed.

Also written: collected_utc (cluster.csv, the time the collection started, UTC),
max_config_version (hosts.csv, the highest version Get-VMHostSupportedVersion lists for the
node), dynamic_memory and memory_startup_mb / memory_minimum_mb / memory_maximum_mb
(vms.csv, from Get-VMMemory; a VM without Dynamic Memory gets its startup memory in all
three). With -HistoryTimeFrame or -HistorySampleCount: vm_history.csv and host_history.csv
(timestamps in UTC on one grid, 'Z' suffix).

Names are written as they are; hvplan treats them as data (they never become code in the
runbooks it generates).

The script reads the other nodes remotely (WinRM and CIM). Run it in a console on a node or
on a management machine; from inside a remote session (Enter-PSSession) the second hop to the
other nodes needs CredSSP or Kerberos delegation.

.PARAMETER OutputPath
Directory to write the snapshot to. It is created when missing. An existing directory that
already holds CSV files is only overwritten with -Force.

.PARAMETER Cluster
Name of the cluster to read. Default: the cluster of this node ('.').

.PARAMETER SampleCount
Number of CPU counter samples to average. Default 12.

.PARAMETER SampleIntervalSeconds
Seconds between CPU counter samples. Default 5 (12 x 5 s = one minute). The native balancer
looks at 5-minute averages: use -SampleCount 60 for the same window.

.PARAMETER FaultDomainType
Which level of the cluster's fault-domain tree (Get-ClusterFaultDomain) is written as a
node's fault_domain: Site (default), Rack or Chassis. A node without an ancestor of that type
gets an empty fault_domain, which hvplan reads as the node's own name.

.PARAMETER MemoryReserveMB
Memory (MB) to keep for every node's host OS and cluster services. Default: empty, so that
hvplan's documented default (4096 MB, at most a quarter of the node) applies.

.PARAMETER Force
Overwrite the CSV files of an existing snapshot in OutputPath.

.PARAMETER SkipUnreachable
Go on when a node that the cluster reports Up or Paused cannot be read. Without it the
script stops with a message naming the node, because a node written with no VMs would look
empty to hvplan. With it, a node whose VMs cannot be listed (Get-VM fails) is written with
state Down (hvplan moves nothing onto it; its VMs are not in the snapshot) and a node whose
size cannot be read is left out; both are named in a warning.

.PARAMETER SkipAffinityRules
Write no affinity_rules.csv when Get-ClusterAffinityRule fails. Without it the script stops:
a snapshot without its rules would let hvplan plan moves that break them.

.PARAMETER HistoryTimeFrame
Also write vm_history.csv and host_history.csv from the cluster's performance history
(Get-ClusterPerformanceHistory, Windows Server 2019 and later with Storage Spaces Direct,
Azure Local): LastHour (10-second samples), LastDay (5 minutes), LastWeek (15 minutes),
LastMonth (1 hour) or LastYear (1 day). Series: VM.Cpu.Usage (a share of the host's
processors, converted to a share of the VM's vCPUs), VM.Memory.Assigned, and
ClusterNode.Cpu.Usage.Host (the host's own CPU use). Default None: no history. When the
performance history is not available, the counters are sampled instead if
-HistorySampleCount is given.

.PARAMETER HistorySampleCount
Sample the Hyper-V counters this many times for the history (when -HistoryTimeFrame is
None or the performance history is not available). Default 0: no sampling.

.PARAMETER HistorySampleIntervalSeconds
Seconds between two history samples (default 300, the native balancer's 5-minute view):
-HistorySampleCount 288 covers a day.

.EXAMPLE
.\Export-ClusterState.ps1 -OutputPath C:\hvplan\snapshot

Reads the local cluster and writes C:\hvplan\snapshot\cluster.csv, hosts.csv, vms.csv,
affinity_rules.csv and networks.csv. Copy the directory to the machine running hvplan and
run: hvplan validate snapshot

.EXAMPLE
.\Export-ClusterState.ps1 -Cluster HVCLU01 -OutputPath .\hvclu01 -SampleCount 60 -FaultDomainType Rack -Force

Reads cluster HVCLU01 with a five-minute CPU sample, uses racks as fault domains and
replaces an earlier snapshot in .\hvclu01.

.NOTES
Written out by: hvplan collector --out Export-ClusterState.ps1
Works with Windows PowerShell 5.1 and PowerShell 7.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [string] $OutputPath,

    [string] $Cluster = '.',

    [ValidateRange(1, 3600)]
    [int] $SampleCount = 12,

    [ValidateRange(1, 600)]
    [int] $SampleIntervalSeconds = 5,

    [ValidateSet('Site', 'Rack', 'Chassis')]
    [string] $FaultDomainType = 'Site',

    [ValidateRange(0, 1073741824)]
    [Nullable[int]] $MemoryReserveMB = $null,

    [switch] $Force,

    [switch] $SkipUnreachable,

    [switch] $SkipAffinityRules,

    [ValidateSet('None', 'LastHour', 'LastDay', 'LastWeek', 'LastMonth', 'LastYear')]
    [string] $HistoryTimeFrame = 'None',

    [ValidateRange(0, 100000)]
    [int] $HistorySampleCount = 0,

    [ValidateRange(1, 86400)]
    [int] $HistorySampleIntervalSeconds = 300
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

# ------------------------------------------------------------------------------------------
# The columns of each file, in the order hvplan documents them (SPEC section 1).
# ------------------------------------------------------------------------------------------
$ClusterColumns = @('name', 'auto_balancer_mode', 'auto_balancer_level',
    'maximum_parallel_migrations', 'enforced_anti_affinity', 'collected_utc')
$HostColumns = @('name', 'state', 'fault_domain', 'cpu_vendor', 'cpu_model',
    'logical_processors', 'memory_mb', 'memory_reserve_mb', 'cpu_base_pct', 'max_vm_migrations',
    'max_config_version')
$VmColumns = @('name', 'host', 'state', 'priority', 'vcpus', 'memory_mb', 'dynamic_memory',
    'memory_startup_mb', 'memory_minimum_mb', 'memory_maximum_mb', 'cpu_usage_pct',
    'config_version', 'compat_mode', 'possible_owners', 'preferred_owners',
    'anti_affinity_class_names', 'allow_downtime', 'pinned')
$VmHistoryColumns = @('timestamp', 'vm', 'cpu_usage_pct', 'memory_mb')
$HostHistoryColumns = @('timestamp', 'host', 'cpu_base_pct')
$RuleColumns = @('name', 'rule_type', 'enabled', 'groups')
$NetworkColumns = @('name', 'role', 'live_migration_order', 'bandwidth_gbps')

# Processor name (Win32_Processor.Name) -> hvplan catalog model, first match wins. Matching
# is by generation: the name does not say which optional features (TSX) are switched on, so
# Haswell and Broadwell map to their -noTSX models (TSX was withdrawn by microcode there).
$CpuModelPatterns = @(
    @('Xeon.*\b6\d{3}E\b', 'SierraForest'),
    @('Xeon.*\b6\d{3}P\b', 'GraniteRapids'),
    @('(Platinum|Gold|Silver|Bronze) \d4\d\d', 'SapphireRapids'),
    @('(Platinum|Gold|Silver|Bronze) \d3\d\d[A-Z]*H', 'Cooperlake'),
    @('(Platinum|Gold|Silver|Bronze) \d3\d\d', 'Icelake-Server'),
    @('(Platinum|Gold|Silver|Bronze) \d2\d\d', 'Cascadelake-Server'),
    @('(Platinum|Gold|Silver|Bronze) \d1\d\d', 'Skylake-Server'),
    @('E3-\d{4}\w* v[56]', 'Skylake-Client'),
    @('E[357]-\d{4}\w* v4', 'Broadwell-noTSX'),
    @('E[357]-\d{4}\w* v3', 'Haswell-noTSX'),
    @('E[357]-\d{4}\w* v2', 'IvyBridge'),
    @('E[35]-\d{4}', 'SandyBridge'),
    @('E7-\d{4}', 'Westmere'),
    @('Xeon.*\b[XELW]56\d\d\b', 'Westmere'),
    @('Xeon.*\b[XELW]55\d\d\b', 'Nehalem'),
    @('EPYC 9\w\w5', 'EPYC-Turin'),
    @('EPYC [89]\w\w4', 'EPYC-Genoa'),
    @('EPYC 7\w\w3', 'EPYC-Milan'),
    @('EPYC 7\w\w2', 'EPYC-Rome'),
    @('EPYC 7\w\w1', 'EPYC'),
    @('Opteron.*\b[46]3\d\d\b', 'Opteron_G5'),
    @('Opteron.*\b[46]2\d\d\b', 'Opteron_G4'),
    @('Opteron.*\b([46]1\d\d|[28][34]\d\d)\b', 'Opteron_G3'),
    @('Hygon C86', 'Dhyana')
)

$Invariant = [System.Globalization.CultureInfo]::InvariantCulture
$BytesPerMB = 1048576
$IsoFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"

function Format-Number {
    <# A number as text with a '.' decimal point and at most two decimals. #>
    param([double] $Value)
    return $Value.ToString('0.##', $Invariant)
}

function ConvertTo-MB {
    <# Bytes -> whole MB, rounded up so that a VM is never shown smaller than it is. #>
    param([double] $Bytes)
    return [int64][math]::Ceiling($Bytes / $BytesPerMB)
}

function Get-CatalogModel {
    <# The catalog model for a processor name, or '' when the table has no match. #>
    param([string] $ProcessorName)
    foreach ($pattern in $CpuModelPatterns) {
        if ($ProcessorName -match $pattern[0]) { return $pattern[1] }
    }
    return ''
}

function Join-List {
    <# A list as one field, items separated by ';' (the snapshot's list form). #>
    param([object[]] $Items)
    if ($null -eq $Items) { return '' }
    return (@($Items | Where-Object { $null -ne $_ -and "$_" -ne '' } | ForEach-Object { "$_" }) -join ';')
}

function Get-PropertyValue {
    <# A property's value, or $Default when the object (an older Windows) does not have it. #>
    param($Object, [string] $Name, $Default = $null)
    if ($null -eq $Object) { return $Default }
    $p = $Object.PSObject.Properties[$Name]
    if ($null -eq $p -or $null -eq $p.Value) { return $Default }
    return $p.Value
}

function Write-SnapshotCsv {
    <# Write rows (ordered hashtables) with exactly $Columns; a header alone when no rows. #>
    param([string] $Path, [string[]] $Columns, [object[]] $Rows)
    if ($null -ne $Rows -and $Rows.Count -gt 0) {
        $Rows | ForEach-Object { [pscustomobject]$_ } |
            Select-Object -Property $Columns |
            Export-Csv -LiteralPath $Path -NoTypeInformation -Encoding UTF8
    } else {
        $header = ($Columns | ForEach-Object { '"' + $_ + '"' }) -join ','
        $utf8Bom = New-Object System.Text.UTF8Encoding $true
        [System.IO.File]::WriteAllText($Path, $header + "`r`n", $utf8Bom)
    }
}

# ------------------------------------------------------------------------------------------
# Output directory
# ------------------------------------------------------------------------------------------
$snapshotFiles = @('cluster.csv', 'hosts.csv', 'vms.csv', 'affinity_rules.csv', 'networks.csv',
    'vm_history.csv', 'host_history.csv')
if (Test-Path -LiteralPath $OutputPath -PathType Leaf) {
    throw "OutputPath '$OutputPath' is a file; give a directory for the snapshot."
}
if (-not (Test-Path -LiteralPath $OutputPath)) {
    New-Item -ItemType Directory -Path $OutputPath | Out-Null
}
$existing = @($snapshotFiles | Where-Object { Test-Path -LiteralPath (Join-Path $OutputPath $_) })
if ($existing.Count -gt 0) {
    if (-not $Force) {
        throw "OutputPath '$OutputPath' already holds a snapshot ($($existing -join ', ')); use -Force to replace it."
    }
    # A file this run does not write again must not survive from the earlier snapshot.
    $existing | ForEach-Object { Remove-Item -LiteralPath (Join-Path $OutputPath $_) }
}
$OutputPath = (Resolve-Path -LiteralPath $OutputPath).ProviderPath

Import-Module FailoverClusters -ErrorAction Stop
Import-Module Hyper-V -ErrorAction Stop
$CollectedUtc = (Get-Date).ToUniversalTime().ToString($IsoFormat, $Invariant)

# ------------------------------------------------------------------------------------------
# cluster.csv
# ------------------------------------------------------------------------------------------
$clu = Get-Cluster -Name $Cluster
Write-Verbose "Cluster $($clu.Name)"
$parallel = Get-PropertyValue $clu 'MaximumParallelMigrations' ''
$clusterRows = @(
    [ordered]@{  # cluster.csv
        name                        = $clu.Name
        auto_balancer_mode          = [int](Get-PropertyValue $clu 'AutoBalancerMode' 2)
        auto_balancer_level         = [int](Get-PropertyValue $clu 'AutoBalancerLevel' 1)
        maximum_parallel_migrations = "$parallel"
        enforced_anti_affinity      = [bool][int](Get-PropertyValue $clu 'ClusterEnforcedAntiAffinity' 0)
        collected_utc               = $CollectedUtc
    }
)

# ------------------------------------------------------------------------------------------
# Nodes: state, fault domain, size, processor
# ------------------------------------------------------------------------------------------
$nodes = @(Get-ClusterNode -Cluster $clu.Name | Sort-Object -Property Name)

# Fault-domain tree: each entry knows its parent; walk up from the node to the chosen level.
$domainByName = @{}
try {
    foreach ($fd in @(Get-ClusterFaultDomain -CimSession $clu.Name)) { $domainByName["$($fd.Name)"] = $fd }
} catch {
    Write-Warning "Get-ClusterFaultDomain failed ($($_.Exception.Message)); fault_domain is left empty (each node is its own fault domain)."
}
function Get-NodeFaultDomain {
    param([string] $NodeName, $Node)
    # Get-ClusterNode's own FaultDomain list ('Site:...', 'Rack:...') when it names the level.
    foreach ($entry in @(Get-PropertyValue $Node 'FaultDomain' @())) {
        if ("$entry" -match "^\s*$($FaultDomainType):\s*(.+)$") { return $Matches[1].Trim() }
    }
    $current = $domainByName[$NodeName]
    $seen = 0
    while ($null -ne $current -and $seen -lt 16) {
        $parentName = "$(Get-PropertyValue $current 'ParentName' '')"
        if ($parentName -eq '') { return '' }
        $current = $domainByName[$parentName]
        if ($null -ne $current -and "$(Get-PropertyValue $current 'Type' '')" -eq $FaultDomainType) {
            return $parentName
        }
        $seen++
    }
    return ''
}

$hostInfo = [ordered]@{}   # node name -> facts gathered below
foreach ($node in $nodes) {
    $name = "$($node.Name)"
    Write-Progress -Activity 'Reading nodes' -Status $name
    $state = switch ("$($node.State)") { 'Up' { 'Up' }; 'Paused' { 'Paused' }; default { 'Down' } }
    try {
        $vmHost = Get-VMHost -ComputerName $name
        $cpu = @(Get-CimInstance -ClassName Win32_Processor -ComputerName $name)[0]
    } catch {
        $why = $_.Exception.Message
        if ($state -ne 'Down' -and -not $SkipUnreachable) {
            throw "Node $name is $state but cannot be read ($why). A snapshot without it would be wrong: fix the access to the node, or run with -SkipUnreachable to leave it out."
        }
        Write-Warning "Node $name ($state) cannot be read ($why); it is left out of the snapshot."
        continue
    }
    $maxVersion = ''
    try {
        $versions = @(Get-VMHostSupportedVersion -ComputerName $name | ForEach-Object { [version]"$($_.Version)" })
        if ($versions.Count -gt 0) {
            $top = @($versions | Sort-Object -Descending)[0]
            $maxVersion = '{0}.{1}' -f $top.Major, $top.Minor
        }
    } catch {
        Write-Warning "Get-VMHostSupportedVersion failed on node $name ($($_.Exception.Message)); max_config_version is left empty (any version)."
    }
    $hostInfo[$name] = [pscustomobject]@{
        Name          = $name
        State         = $state
        FaultDomain   = Get-NodeFaultDomain $name $node
        Vendor        = "$($cpu.Manufacturer)".Trim()
        ProcessorName = "$($cpu.Name)".Trim()
        Model         = Get-CatalogModel "$($cpu.Name)"
        LP            = [int]$vmHost.LogicalProcessorCount
        MemoryMB      = [int64][math]::Floor([double]$vmHost.MemoryCapacity / $BytesPerMB)
        MaxMigrations = [int]$vmHost.MaximumVirtualMachineMigrations
        MaxVersion    = $maxVersion
    }
    if ($hostInfo[$name].Model -eq '') {
        Write-Warning "Node ${name}: processor '$($cpu.Name)' is not in the model table; cpu_model is left empty."
    }
}
$nodeNames = @($hostInfo.Keys)
if ($nodeNames.Count -eq 0) { throw "No node of cluster $($clu.Name) could be read." }

# ------------------------------------------------------------------------------------------
# CPU counters, one sampling window for all nodes at once
# ------------------------------------------------------------------------------------------
$hostTotalPct = @{}   # node -> average % total run time of all logical processors
$vmCpuPct = @{}       # "node<TAB>vm" (lower case) -> average % total run time of the VM's vCPUs
$sep = "`t"           # a separator no node or VM name contains
$counters = @('\Hyper-V Hypervisor Logical Processor(_Total)\% Total Run Time',
    '\Hyper-V Hypervisor Virtual Processor(*)\% Total Run Time')
try {
    Write-Progress -Activity 'Sampling CPU counters' -Status "$SampleCount x $SampleIntervalSeconds s"
    $samples = Get-Counter -ComputerName $nodeNames -Counter $counters -SampleInterval $SampleIntervalSeconds -MaxSamples $SampleCount
    $sums = @{}
    foreach ($set in $samples) {
        foreach ($s in $set.CounterSamples) {
            # Path: \\node\hyper-v hypervisor virtual processor(vm:hv vp 0)\% total run time
            $nodeName = ($s.Path -split '\\')[2]
            $instance = "$($s.InstanceName)"
            if ($s.Path -match 'logical processor\(_total\)') {
                $key = "host$sep$nodeName"
            } elseif ($instance -match '^(.*):hv vp \d+$') {
                # One key per virtual processor, averaged per VM below.
                $key = "vp$sep$nodeName$sep$($Matches[1])$sep$instance"
            } else { continue }
            if (-not $sums.ContainsKey($key)) { $sums[$key] = @(0.0, 0) }
            $sums[$key] = @(($sums[$key][0] + $s.CookedValue), ($sums[$key][1] + 1))
        }
    }
    $vpAverages = @{}
    foreach ($key in $sums.Keys) {
        $avg = $sums[$key][0] / [math]::Max(1, $sums[$key][1])
        $parts = $key.Split($sep)
        if ($parts[0] -eq 'host') { $hostTotalPct[$parts[1].ToLowerInvariant()] = $avg; continue }
        $vmKey = "$($parts[1])$sep$($parts[2])".ToLowerInvariant()
        if (-not $vpAverages.ContainsKey($vmKey)) { $vpAverages[$vmKey] = New-Object System.Collections.ArrayList }
        [void]$vpAverages[$vmKey].Add($avg)
    }
    foreach ($vmKey in $vpAverages.Keys) {
        $vmCpuPct[$vmKey] = ($vpAverages[$vmKey] | Measure-Object -Average).Average
    }
} catch {
    Write-Warning "The Hyper-V CPU counters cannot be read ($($_.Exception.Message)); VM CPU use comes from Get-VM CPUUsage and cpu_base_pct is left empty."
}

# ------------------------------------------------------------------------------------------
# Cluster groups and their owners
# ------------------------------------------------------------------------------------------
$groups = @(Get-ClusterGroup -Cluster $clu.Name | Where-Object { "$($_.GroupType)" -eq 'VirtualMachine' })
$groupByVmId = @{}
$resourceByGroup = @{}
$vmResources = @(Get-ClusterResource -Cluster $clu.Name | Where-Object { "$($_.ResourceType)" -eq 'Virtual Machine' })
foreach ($res in $vmResources) { $resourceByGroup["$($res.OwnerGroup)"] = $res }
try {
    # The VM resource's VmID links a cluster group to the VM that Get-VM shows (names may differ).
    foreach ($param in @($vmResources | Get-ClusterParameter -Name VmID)) {
        $vmId = "$($param.Value)".Trim('{', '}').ToLowerInvariant()
        if ($vmId -ne '') { $groupByVmId[$vmId] = "$($param.ClusterObject.OwnerGroup)" }
    }
} catch {
    Write-Warning "The VmID of the VM resources cannot be read ($($_.Exception.Message)); VMs are matched to cluster groups by name."
}
$groupByName = @{}
foreach ($g in $groups) { $groupByName["$($g.Name)"] = $g }

function Get-OwnerList {
    <# Owner node names limited to the nodes in the snapshot; '' when that is every node. #>
    param([object[]] $Owners, [switch] $EmptyWhenAll)
    $names = @($Owners | ForEach-Object { "$($_.Name)" } | Where-Object { $nodeNames -contains $_ })
    if ($EmptyWhenAll -and $names.Count -eq $nodeNames.Count) { return '' }
    return Join-List $names
}

$priorityNames = @{ 3000 = 'High'; 2000 = 'Medium'; 1000 = 'Low'; 0 = 'NoAutoStart' }

# ------------------------------------------------------------------------------------------
# VMs, node by node (Get-VM lists only the VMs of one node)
# ------------------------------------------------------------------------------------------
$vmRows = New-Object System.Collections.ArrayList
$historyVms = New-Object System.Collections.ArrayList   # VMs whose load history is read
$unreadNodes = @()
$usedNames = @{}
$vmPartByNode = @{}   # node -> logical processors used by its running VMs
foreach ($nodeName in $nodeNames) {
    Write-Progress -Activity 'Reading VMs' -Status $nodeName
    $info = $hostInfo[$nodeName]
    try {
        $vms = @(Get-VM -ComputerName $nodeName)
    } catch {
        $why = $_.Exception.Message
        if ($info.State -ne 'Down' -and -not $SkipUnreachable) {
            throw "Get-VM failed on node ${nodeName} ($why). Written without its VMs the node would look empty to hvplan: fix the access to the node, or run with -SkipUnreachable to write it as Down."
        }
        Write-Warning "Get-VM failed on node ${nodeName} ($why); it is written with state Down: hvplan moves nothing onto it, and its VMs are not in the snapshot."
        $info.State = 'Down'
        $unreadNodes += $nodeName
        continue
    }
    foreach ($vm in $vms) {
        $vmState = switch ("$($vm.State)") {
            { $_ -in 'Off', 'OffCritical' } { 'Off'; break }
            { $_ -in 'Saved', 'Saving', 'SavedCritical' } { 'Saved'; break }
            { $_ -in 'Paused', 'Pausing', 'PausedCritical' } { 'Paused'; break }
            default { 'Running' }
        }
        $vcpus = [math]::Max(1, [int]$vm.ProcessorCount)
        $memoryBytes = [double]$vm.MemoryAssigned
        if ($memoryBytes -le 0) { $memoryBytes = [double]$vm.MemoryStartup }   # an Off VM has none assigned
        $cpuKey = "$nodeName$sep$($vm.Name)".ToLowerInvariant()
        if ($vmState -ne 'Running' -and $vmState -ne 'Paused') {
            $cpuPct = 0.0
        } elseif ($vmCpuPct.ContainsKey($cpuKey)) {
            $cpuPct = [double]$vmCpuPct[$cpuKey]
        } else {
            # CPUUsage is a share of the whole node: convert it to a share of the VM's vCPUs.
            $cpuPct = [double]$vm.CPUUsage * $info.LP / $vcpus
        }
        $cpuPct = [math]::Min(100.0, [math]::Max(0.0, $cpuPct))
        if ($vmState -eq 'Running' -or $vmState -eq 'Paused') {
            if (-not $vmPartByNode.ContainsKey($nodeName)) { $vmPartByNode[$nodeName] = 0.0 }
            $vmPartByNode[$nodeName] += $vcpus * $cpuPct / 100.0
        }

        # Dynamic Memory: a VM without it gets its startup memory as minimum and maximum.
        $startupBytes = [double](Get-PropertyValue $vm 'MemoryStartup' $memoryBytes)
        $dynamic = [bool](Get-PropertyValue $vm 'DynamicMemoryEnabled' $false)
        $minBytes = [double](Get-PropertyValue $vm 'MemoryMinimum' $startupBytes)
        $maxBytes = [double](Get-PropertyValue $vm 'MemoryMaximum' $startupBytes)
        try {
            $vmMemory = Get-VMMemory -VM $vm
            $dynamic = [bool]$vmMemory.DynamicMemoryEnabled
            $startupBytes = [double]$vmMemory.Startup
            $minBytes = [double]$vmMemory.Minimum
            $maxBytes = [double]$vmMemory.Maximum
        } catch {
            Write-Warning "Get-VMMemory failed for VM $($vm.Name) ($($_.Exception.Message)); the memory settings Get-VM shows are used."
        }
        if (-not $dynamic) { $minBytes = $startupBytes; $maxBytes = $startupBytes }

        $compat = 'None'
        try {
            $proc = Get-VMProcessor -VM $vm
            if ([bool](Get-PropertyValue $proc 'CompatibilityForMigrationEnabled' $false)) {
                # Windows Server 2025 adds the mode; before it the only mode is the minimum set.
                $compat = "$(Get-PropertyValue $proc 'CompatibilityForMigrationMode' 'MinimumFeatureSet')"
            }
        } catch {
            Write-Warning "Get-VMProcessor failed for VM $($vm.Name) ($($_.Exception.Message)); compat_mode None is assumed."
        }

        $groupName = $groupByVmId["$($vm.VMId)".Trim('{', '}').ToLowerInvariant()]
        if ($null -eq $groupName -and $groupByName.ContainsKey("$($vm.Name)")) { $groupName = "$($vm.Name)" }
        $group = $null
        if ($null -ne $groupName) { $group = $groupByName[$groupName] }
        if ($null -ne $group) {
            # Cluster group names are what affinity rules and anti-affinity classes refer to.
            $vmName = $groupName
            $priority = $priorityNames[[int](Get-PropertyValue $group 'Priority' 2000)]
            if ($null -eq $priority) { $priority = 'Medium' }
            $preferred = Get-OwnerList @(Get-ClusterOwnerNode -InputObject $group).OwnerNodes
            $possible = ''
            $resource = $resourceByGroup[$groupName]
            if ($null -ne $resource) {
                $possible = Get-OwnerList @(Get-ClusterOwnerNode -InputObject $resource).OwnerNodes -EmptyWhenAll
            }
            $antiAffinity = Join-List @(Get-PropertyValue $group 'AntiAffinityClassNames' @())
            $pinned = $false
        } else {
            # Not clustered: it cannot be moved by the cluster but it uses the node.
            $vmName = "$($vm.Name)"
            if ($usedNames.ContainsKey($vmName.ToLowerInvariant())) { $vmName = "$vmName (local on $nodeName)" }
            $priority = 'NoAutoStart'
            $preferred = ''
            $possible = $nodeName
            $antiAffinity = ''
            $pinned = $true
        }
        if ($usedNames.ContainsKey($vmName.ToLowerInvariant())) {
            Write-Warning "VM $vmName is listed twice (node $nodeName); the second one is left out."
            continue
        }
        $usedNames[$vmName.ToLowerInvariant()] = $true
        [void]$historyVms.Add([pscustomobject]@{
                Vm      = $vm
                Node    = $nodeName
                Name    = $vmName
                Key     = $cpuKey
                Vcpus   = $vcpus
                LP      = $info.LP
                Running = ($vmState -eq 'Running' -or $vmState -eq 'Paused')
            })
        [void]$vmRows.Add([ordered]@{  # vms.csv
                name                      = $vmName
                host                      = $nodeName
                state                     = $vmState
                priority                  = $priority
                vcpus                     = $vcpus
                memory_mb                 = [math]::Max([int64]1, (ConvertTo-MB $memoryBytes))
                dynamic_memory            = $dynamic
                memory_startup_mb         = [math]::Max([int64]1, (ConvertTo-MB $startupBytes))
                memory_minimum_mb         = [math]::Max([int64]1, (ConvertTo-MB $minBytes))
                memory_maximum_mb         = [math]::Max([int64]1, (ConvertTo-MB $maxBytes))
                cpu_usage_pct             = Format-Number $cpuPct
                config_version            = "$($vm.Version)"
                compat_mode               = $compat
                possible_owners           = $possible
                preferred_owners          = $preferred
                anti_affinity_class_names = $antiAffinity
                allow_downtime            = $false
                pinned                    = $pinned
            })
    }
}

# ------------------------------------------------------------------------------------------
# hosts.csv (after the VMs: the host's own CPU use is the total minus the VMs' part)
# ------------------------------------------------------------------------------------------
$hostRows = New-Object System.Collections.ArrayList
foreach ($nodeName in $nodeNames) {
    $info = $hostInfo[$nodeName]
    $basePct = ''
    if ($hostTotalPct.ContainsKey($nodeName.ToLowerInvariant())) {
        $vmLp = 0.0
        if ($vmPartByNode.ContainsKey($nodeName)) { $vmLp = [double]$vmPartByNode[$nodeName] }
        $vmPart = 100.0 * $vmLp / [math]::Max(1, $info.LP)
        $basePct = Format-Number ([math]::Min(100.0, [math]::Max(0.0, $hostTotalPct[$nodeName.ToLowerInvariant()] - $vmPart)))
    }
    $reserve = ''
    if ($null -ne $MemoryReserveMB) { $reserve = "$MemoryReserveMB" }
    [void]$hostRows.Add([ordered]@{  # hosts.csv
            name               = $info.Name
            state              = $info.State
            fault_domain       = $info.FaultDomain
            cpu_vendor         = $info.Vendor
            cpu_model          = $info.Model
            logical_processors = $info.LP
            memory_mb          = $info.MemoryMB
            memory_reserve_mb  = $reserve
            cpu_base_pct       = $basePct
            max_vm_migrations  = [math]::Max(1, $info.MaxMigrations)
            max_config_version = $info.MaxVersion
        })
}

# ------------------------------------------------------------------------------------------
# affinity_rules.csv (Windows Server 2022 and later)
# ------------------------------------------------------------------------------------------
$ruleRows = New-Object System.Collections.ArrayList
if ($SkipAffinityRules) {
    Write-Warning 'Affinity rules are not read (-SkipAffinityRules): add affinity_rules.csv by hand, or hvplan may plan moves that break them.'
} elseif (Get-Command -Name Get-ClusterAffinityRule -ErrorAction SilentlyContinue) {
    # A CDXML cmdlet: its documented syntax takes -CimSession (a computer name works), not -Cluster.
    try {
        $rules = @(Get-ClusterAffinityRule -CimSession $clu.Name)
    } catch {
        throw "Get-ClusterAffinityRule -CimSession $($clu.Name) failed ($($_.Exception.Message)). A snapshot without the affinity rules would let hvplan plan moves that break them: fix the CIM (WinRM) access to the cluster, or run with -SkipAffinityRules."
    }
    foreach ($rule in $rules) {
        [void]$ruleRows.Add([ordered]@{  # affinity_rules.csv
                name      = "$($rule.Name)"
                rule_type = "$($rule.RuleType)"
                enabled   = [bool][int](Get-PropertyValue $rule 'Enabled' 1)
                groups    = Join-List @(Get-PropertyValue $rule 'Groups' @())
            })
    }
} else {
    Write-Verbose 'Get-ClusterAffinityRule is not available (before Windows Server 2022): no affinity_rules.csv.'
}

# ------------------------------------------------------------------------------------------
# networks.csv
# ------------------------------------------------------------------------------------------
$networks = @(Get-ClusterNetwork -Cluster $clu.Name)
$order = @()
$excluded = @()
try {
    $vmType = Get-ClusterResourceType -Cluster $clu.Name -Name 'Virtual Machine'
    $order = @("$((Get-ClusterParameter -InputObject $vmType -Name MigrationNetworkOrder).Value)" -split ';' | Where-Object { $_ -ne '' })
    $excluded = @("$((Get-ClusterParameter -InputObject $vmType -Name MigrationExcludeNetworks).Value)" -split ';' | Where-Object { $_ -ne '' })
} catch {
    Write-Warning "The live-migration network settings cannot be read ($($_.Exception.Message)); networks are ordered by metric."
}
# Usable for live migration: not excluded and used by the cluster; order: the cluster's
# MigrationNetworkOrder, then the metric (lower first) for networks it does not list.
$usable = @($networks | Where-Object { $excluded -notcontains "$($_.Id)" -and "$($_.Role)" -notin @('None', '0') })
$ranked = @($usable | Sort-Object -Property @{ Expression = {
            $i = [array]::IndexOf($order, "$($_.Id)"); if ($i -lt 0) { [int]::MaxValue } else { $i } } },
    @{ Expression = { [int64](Get-PropertyValue $_ 'Metric' 0) } })
$rank = @{}
for ($i = 0; $i -lt $ranked.Count; $i++) { $rank["$($ranked[$i].Id)"] = $i + 1 }

# Link speed per network: the slowest adapter of any node on it.
$speedByNetwork = @{}
try {
    $adaptersByNode = @{}
    foreach ($iface in @(Get-ClusterNetworkInterface -Cluster $clu.Name)) {
        $nodeName = "$($iface.Node)"
        if ($nodeNames -notcontains $nodeName) { continue }
        if (-not $adaptersByNode.ContainsKey($nodeName)) { $adaptersByNode[$nodeName] = @(Get-NetAdapter -CimSession $nodeName) }
        $adapter = $adaptersByNode[$nodeName] | Where-Object {
            "$($_.InterfaceGuid)".Trim('{', '}') -eq "$(Get-PropertyValue $iface 'AdapterId' '')".Trim('{', '}') -or $_.Name -eq "$($iface.Adapter)" -or $_.InterfaceDescription -eq "$($iface.Adapter)" } |
            Select-Object -First 1
        if ($null -eq $adapter -or [double]$adapter.Speed -le 0) { continue }
        $gbps = [double]$adapter.Speed / 1e9
        $net = "$($iface.Network)"
        if (-not $speedByNetwork.ContainsKey($net) -or $gbps -lt $speedByNetwork[$net]) { $speedByNetwork[$net] = $gbps }
    }
} catch {
    Write-Warning "Adapter link speeds cannot be read ($($_.Exception.Message)); bandwidth_gbps is left empty (hvplan assumes 10)."
}

$networkRows = New-Object System.Collections.ArrayList
foreach ($net in $networks) {
    $role = switch ("$($net.Role)") {
        { $_ -in 'None', '0' } { 'None'; break }
        { $_ -in 'Cluster', '1' } { 'Cluster'; break }
        default { 'ClusterAndClient' }
    }
    $lmOrder = ''
    if ($rank.ContainsKey("$($net.Id)")) { $lmOrder = $rank["$($net.Id)"] }
    $bandwidth = ''
    if ($speedByNetwork.ContainsKey("$($net.Name)")) { $bandwidth = Format-Number $speedByNetwork["$($net.Name)"] }
    [void]$networkRows.Add([ordered]@{  # networks.csv
            name                 = "$($net.Name)"
            role                 = $role
            live_migration_order = $lmOrder
            bandwidth_gbps       = $bandwidth
        })
}

# ------------------------------------------------------------------------------------------
# vm_history.csv and host_history.csv (optional): one grid of UTC times for every row
# ------------------------------------------------------------------------------------------
$vmHistory = [ordered]@{}     # "time<TAB>vm" -> row (a time appears once per VM)
$hostHistory = [ordered]@{}   # "time<TAB>host" -> row
$TimeFrameStep = @{ LastHour = 10; LastDay = 300; LastWeek = 900; LastMonth = 3600; LastYear = 86400 }

function Format-GridTime {
    <# Unix seconds rounded to the grid ($Step seconds since 1970), as UTC ISO 8601. #>
    param([double] $UnixSeconds, [int] $Step)
    $grid = [int64]([math]::Round($UnixSeconds / $Step) * $Step)
    return [DateTimeOffset]::FromUnixTimeSeconds($grid).UtcDateTime.ToString($IsoFormat, $Invariant)
}

function ConvertTo-UnixSeconds {
    param([datetime] $Time)
    return [DateTimeOffset]::new($Time.ToUniversalTime()).ToUnixTimeSeconds()
}

function Add-VmHistoryRow {
    param([string] $Time, [string] $Vm, [string] $CpuPct, [string] $MemoryMB)
    $vmHistory["$Time$sep$Vm"] = [ordered]@{  # vm_history.csv
        timestamp     = $Time
        vm            = $Vm
        cpu_usage_pct = $CpuPct
        memory_mb     = $MemoryMB
    }
}

function Add-HostHistoryRow {
    param([string] $Time, [string] $HostName, [string] $BasePct)
    $hostHistory["$Time$sep$HostName"] = [ordered]@{  # host_history.csv
        timestamp    = $Time
        host         = $HostName
        cpu_base_pct = $BasePct
    }
}

function Read-PerformanceHistory {
    <# The cluster's performance history for -HistoryTimeFrame; $false when not available. #>
    if (-not (Get-Command -Name Get-ClusterPerformanceHistory -ErrorAction SilentlyContinue)) { return $false }
    $step = $TimeFrameStep[$HistoryTimeFrame]
    try {
        foreach ($h in @($historyVms | Where-Object { $_.Running })) {
            Write-Progress -Activity 'Reading the performance history' -Status $h.Name
            $memory = @{}
            foreach ($s in @($h.Vm | Get-ClusterPerformanceHistory -VMSeriesName 'VM.Memory.Assigned' -TimeFrame $HistoryTimeFrame)) {
                $memory[(Format-GridTime (ConvertTo-UnixSeconds $s.Time) $step)] = [string](ConvertTo-MB ([double]$s.Value))
            }
            foreach ($s in @($h.Vm | Get-ClusterPerformanceHistory -VMSeriesName 'VM.Cpu.Usage' -TimeFrame $HistoryTimeFrame)) {
                $t = Format-GridTime (ConvertTo-UnixSeconds $s.Time) $step
                # VM.Cpu.Usage is a share of the host's processors: as a share of the VM's vCPUs.
                $pct = [math]::Min(100.0, [math]::Max(0.0, [double]$s.Value * $h.LP / $h.Vcpus))
                $mb = if ($memory.ContainsKey($t)) { $memory[$t] } else { '' }
                Add-VmHistoryRow $t $h.Name (Format-Number $pct) $mb
            }
        }
        foreach ($nodeName in @($nodeNames | Where-Object { $hostInfo[$_].State -ne 'Down' })) {
            $node = Get-ClusterNode -Cluster $clu.Name -Name $nodeName
            foreach ($s in @($node | Get-ClusterPerformanceHistory -ClusterNodeSeriesName 'ClusterNode.Cpu.Usage.Host' -TimeFrame $HistoryTimeFrame)) {
                $t = Format-GridTime (ConvertTo-UnixSeconds $s.Time) $step
                Add-HostHistoryRow $t $nodeName (Format-Number ([math]::Min(100.0, [math]::Max(0.0, [double]$s.Value))))
            }
        }
    } catch {
        Write-Warning "The cluster performance history cannot be read ($($_.Exception.Message))."
        $vmHistory.Clear()
        $hostHistory.Clear()
        return $false
    }
    return ($vmHistory.Count -gt 0)
}

function Read-SampledHistory {
    <# -HistorySampleCount samples of the Hyper-V counters, -HistorySampleIntervalSeconds apart. #>
    param([string[]] $Paths)
    $step = $HistorySampleIntervalSeconds
    $live = @($nodeNames | Where-Object { $hostInfo[$_].State -ne 'Down' })
    Write-Progress -Activity 'Sampling the load history' -Status "$HistorySampleCount x $step s"
    $now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
    $start = $now - ($now % $step)
    $k = 0
    foreach ($set in @(Get-Counter -ComputerName $live -Counter $Paths -SampleInterval $step -MaxSamples $HistorySampleCount)) {
        $k++
        # Sample k averages the k-th interval: it is written at the interval's end.
        $t = Format-GridTime ($start + $k * $step) $step
        $vp = @{}
        $memory = @{}
        $total = @{}
        foreach ($s in $set.CounterSamples) {
            $nodeName = ($s.Path -split '\\')[2].ToLowerInvariant()
            $instance = "$($s.InstanceName)"
            if ($s.Path -match 'logical processor\(_total\)') {
                $total[$nodeName] = [double]$s.CookedValue
            } elseif ($s.Path -match 'virtual processor' -and $instance -match '^(.*):hv vp \d+$') {
                $key = "$nodeName$sep$($Matches[1])".ToLowerInvariant()
                if (-not $vp.ContainsKey($key)) { $vp[$key] = New-Object System.Collections.ArrayList }
                [void]$vp[$key].Add([double]$s.CookedValue)
            } elseif ($s.Path -match 'dynamic memory vm') {
                $memory["$nodeName$sep$instance".ToLowerInvariant()] = [double]$s.CookedValue
            }
        }
        $usedLp = @{}
        foreach ($h in @($historyVms | Where-Object { $_.Running -and $vp.ContainsKey($_.Key) })) {
            $pct = [math]::Min(100.0, [math]::Max(0.0, [double]($vp[$h.Key] | Measure-Object -Average).Average))
            # '\Hyper-V Dynamic Memory VM(*)\Physical Memory' is the assigned memory in MB.
            $mb = if ($memory.ContainsKey($h.Key)) { [string][int64][math]::Ceiling($memory[$h.Key]) } else { '' }
            Add-VmHistoryRow $t $h.Name (Format-Number $pct) $mb
            if (-not $usedLp.ContainsKey($h.Node)) { $usedLp[$h.Node] = 0.0 }
            $usedLp[$h.Node] += $h.Vcpus * $pct / 100.0
        }
        foreach ($nodeName in $live) {
            if (-not $total.ContainsKey($nodeName.ToLowerInvariant())) { continue }
            $used = if ($usedLp.ContainsKey($nodeName)) { [double]$usedLp[$nodeName] } else { 0.0 }
            $base = $total[$nodeName.ToLowerInvariant()] - 100.0 * $used / [math]::Max(1, $hostInfo[$nodeName].LP)
            Add-HostHistoryRow $t $nodeName (Format-Number ([math]::Min(100.0, [math]::Max(0.0, $base))))
        }
    }
}

function Invoke-SampledHistory {
    $cpuPaths = @('\Hyper-V Hypervisor Logical Processor(_Total)\% Total Run Time',
        '\Hyper-V Hypervisor Virtual Processor(*)\% Total Run Time')
    try {
        Read-SampledHistory -Paths ($cpuPaths + '\Hyper-V Dynamic Memory VM(*)\Physical Memory')
    } catch {
        Write-Warning "The Dynamic Memory counters cannot be read ($($_.Exception.Message)); sampling CPU only (memory_mb empty: the VM's memory_mb)."
        $vmHistory.Clear()
        $hostHistory.Clear()
        Read-SampledHistory -Paths $cpuPaths
    }
}

if ($HistoryTimeFrame -ne 'None') {
    if (-not (Read-PerformanceHistory)) {
        if ($HistorySampleCount -gt 0) {
            Write-Warning "The cluster performance history ($HistoryTimeFrame) is not available; sampling the counters instead."
            Invoke-SampledHistory
        } else {
            Write-Warning "The cluster performance history ($HistoryTimeFrame) is not available (it needs Windows Server 2019 or later with Storage Spaces Direct); no history is written. Give -HistorySampleCount to sample the counters instead."
        }
    }
} elseif ($HistorySampleCount -gt 0) {
    Invoke-SampledHistory
}

# ------------------------------------------------------------------------------------------
# Write the snapshot
# ------------------------------------------------------------------------------------------
Write-Progress -Activity 'Writing snapshot' -Completed
Write-SnapshotCsv -Path (Join-Path $OutputPath 'cluster.csv') -Columns $ClusterColumns -Rows $clusterRows
Write-SnapshotCsv -Path (Join-Path $OutputPath 'hosts.csv') -Columns $HostColumns -Rows $hostRows.ToArray()
Write-SnapshotCsv -Path (Join-Path $OutputPath 'vms.csv') -Columns $VmColumns -Rows $vmRows.ToArray()
if ($ruleRows.Count -gt 0) {
    Write-SnapshotCsv -Path (Join-Path $OutputPath 'affinity_rules.csv') -Columns $RuleColumns -Rows $ruleRows.ToArray()
}
if ($networkRows.Count -gt 0) {
    Write-SnapshotCsv -Path (Join-Path $OutputPath 'networks.csv') -Columns $NetworkColumns -Rows $networkRows.ToArray()
}
if ($vmHistory.Count -gt 0) {
    Write-SnapshotCsv -Path (Join-Path $OutputPath 'vm_history.csv') -Columns $VmHistoryColumns -Rows @($vmHistory.Values)
}
if ($hostHistory.Count -gt 0) {
    Write-SnapshotCsv -Path (Join-Path $OutputPath 'host_history.csv') -Columns $HostHistoryColumns -Rows @($hostHistory.Values)
}
Write-Host ("Snapshot of cluster {0}: {1} nodes, {2} VMs, {3} affinity rules, {4} networks, {5} VM history rows -> {6}" -f `
        $clu.Name, $hostRows.Count, $vmRows.Count, $ruleRows.Count, $networkRows.Count, $vmHistory.Count, $OutputPath)
if ($unreadNodes.Count -gt 0) {
    Write-Warning ("Written as Down because their VMs could not be listed: {0}" -f ($unreadNodes -join ', '))
}
Write-Host "Next: hvplan validate `"$OutputPath`""
