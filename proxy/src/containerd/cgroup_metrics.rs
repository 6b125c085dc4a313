//! Protocol types: the part of `io.containerd.cgroups.v1.Metrics` (containerd/cgroups
//! `stats/v1/metrics.proto`) that `docker stats` shows. containerd returns it packed in an
//! `Any` from `Tasks.Metrics`; containerd-client does not ship the message, so the fields
//! are declared here with the proto's tags. Fields left out are skipped when decoding.
#![allow(clippy::derive_partial_eq_without_eq)]

/// The `Any` type URL of these metrics.
pub const TYPE_URL_V1: &str = "io.containerd.cgroups.v1.Metrics";

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metrics {
    #[prost(message, optional, tag = "2")]
    pub pids: Option<PidsStat>,
    #[prost(message, optional, tag = "3")]
    pub cpu: Option<CpuStat>,
    #[prost(message, optional, tag = "4")]
    pub memory: Option<MemoryStat>,
    #[prost(message, optional, tag = "5")]
    pub blkio: Option<BlkIoStat>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PidsStat {
    #[prost(uint64, tag = "1")]
    pub current: u64,
    #[prost(uint64, tag = "2")]
    pub limit: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CpuStat {
    #[prost(message, optional, tag = "1")]
    pub usage: Option<CpuUsage>,
    #[prost(message, optional, tag = "2")]
    pub throttling: Option<Throttle>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CpuUsage {
    #[prost(uint64, tag = "1")]
    pub total: u64,
    #[prost(uint64, tag = "2")]
    pub kernel: u64,
    #[prost(uint64, tag = "3")]
    pub user: u64,
    #[prost(uint64, repeated, tag = "4")]
    pub per_cpu: Vec<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Throttle {
    #[prost(uint64, tag = "1")]
    pub periods: u64,
    #[prost(uint64, tag = "2")]
    pub throttled_periods: u64,
    #[prost(uint64, tag = "3")]
    pub throttled_time: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MemoryStat {
    #[prost(uint64, tag = "1")]
    pub cache: u64,
    #[prost(uint64, tag = "2")]
    pub rss: u64,
    #[prost(uint64, tag = "3")]
    pub rss_huge: u64,
    #[prost(uint64, tag = "4")]
    pub mapped_file: u64,
    #[prost(uint64, tag = "5")]
    pub dirty: u64,
    #[prost(uint64, tag = "6")]
    pub writeback: u64,
    #[prost(uint64, tag = "7")]
    pub pg_pg_in: u64,
    #[prost(uint64, tag = "8")]
    pub pg_pg_out: u64,
    #[prost(uint64, tag = "9")]
    pub pg_fault: u64,
    #[prost(uint64, tag = "10")]
    pub pg_maj_fault: u64,
    #[prost(uint64, tag = "11")]
    pub inactive_anon: u64,
    #[prost(uint64, tag = "12")]
    pub active_anon: u64,
    #[prost(uint64, tag = "13")]
    pub inactive_file: u64,
    #[prost(uint64, tag = "14")]
    pub active_file: u64,
    #[prost(uint64, tag = "15")]
    pub unevictable: u64,
    #[prost(uint64, tag = "16")]
    pub hierarchical_memory_limit: u64,
    #[prost(uint64, tag = "17")]
    pub hierarchical_swap_limit: u64,
    #[prost(uint64, tag = "18")]
    pub total_cache: u64,
    #[prost(uint64, tag = "19")]
    pub total_rss: u64,
    #[prost(uint64, tag = "20")]
    pub total_rss_huge: u64,
    #[prost(uint64, tag = "21")]
    pub total_mapped_file: u64,
    #[prost(uint64, tag = "22")]
    pub total_dirty: u64,
    #[prost(uint64, tag = "23")]
    pub total_writeback: u64,
    #[prost(uint64, tag = "24")]
    pub total_pg_pg_in: u64,
    #[prost(uint64, tag = "25")]
    pub total_pg_pg_out: u64,
    #[prost(uint64, tag = "26")]
    pub total_pg_fault: u64,
    #[prost(uint64, tag = "27")]
    pub total_pg_maj_fault: u64,
    #[prost(uint64, tag = "28")]
    pub total_inactive_anon: u64,
    #[prost(uint64, tag = "29")]
    pub total_active_anon: u64,
    #[prost(uint64, tag = "30")]
    pub total_inactive_file: u64,
    #[prost(uint64, tag = "31")]
    pub total_active_file: u64,
    #[prost(uint64, tag = "32")]
    pub total_unevictable: u64,
    #[prost(message, optional, tag = "33")]
    pub usage: Option<MemoryEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MemoryEntry {
    #[prost(uint64, tag = "1")]
    pub limit: u64,
    #[prost(uint64, tag = "2")]
    pub usage: u64,
    #[prost(uint64, tag = "3")]
    pub max: u64,
    #[prost(uint64, tag = "4")]
    pub failcnt: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BlkIoStat {
    #[prost(message, repeated, tag = "1")]
    pub io_service_bytes_recursive: Vec<BlkIoEntry>,
    #[prost(message, repeated, tag = "2")]
    pub io_serviced_recursive: Vec<BlkIoEntry>,
    #[prost(message, repeated, tag = "3")]
    pub io_queued_recursive: Vec<BlkIoEntry>,
    #[prost(message, repeated, tag = "4")]
    pub io_service_time_recursive: Vec<BlkIoEntry>,
    #[prost(message, repeated, tag = "5")]
    pub io_wait_time_recursive: Vec<BlkIoEntry>,
    #[prost(message, repeated, tag = "6")]
    pub io_merged_recursive: Vec<BlkIoEntry>,
    #[prost(message, repeated, tag = "7")]
    pub io_time_recursive: Vec<BlkIoEntry>,
    #[prost(message, repeated, tag = "8")]
    pub sectors_recursive: Vec<BlkIoEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BlkIoEntry {
    #[prost(string, tag = "1")]
    pub op: String,
    #[prost(string, tag = "2")]
    pub device: String,
    #[prost(uint64, tag = "3")]
    pub major: u64,
    #[prost(uint64, tag = "4")]
    pub minor: u64,
    #[prost(uint64, tag = "5")]
    pub value: u64,
}

// ----- cgroup v2: `io.containerd.cgroups.v2.Metrics` (containerd/cgroups
// `cgroup2/stats/metrics.proto`) -----

/// The `Any` type URL of the cgroup v2 metrics.
pub const TYPE_URL_V2: &str = "io.containerd.cgroups.v2.Metrics";

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricsV2 {
    #[prost(message, optional, tag = "1")]
    pub pids: Option<PidsStat>,
    #[prost(message, optional, tag = "2")]
    pub cpu: Option<CpuStatV2>,
    #[prost(message, optional, tag = "4")]
    pub memory: Option<MemoryStatV2>,
    #[prost(message, optional, tag = "6")]
    pub io: Option<IoStatV2>,
    #[prost(message, optional, tag = "8")]
    pub memory_events: Option<MemoryEventsV2>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CpuStatV2 {
    #[prost(uint64, tag = "1")]
    pub usage_usec: u64,
    #[prost(uint64, tag = "2")]
    pub user_usec: u64,
    #[prost(uint64, tag = "3")]
    pub system_usec: u64,
    #[prost(uint64, tag = "4")]
    pub nr_periods: u64,
    #[prost(uint64, tag = "5")]
    pub nr_throttled: u64,
    #[prost(uint64, tag = "6")]
    pub throttled_usec: u64,
}

/// `memory.stat` counters by name and tag, then the usage fields.
macro_rules! memory_v2 {
    ($($name:ident = $tag:literal),* $(,)?) => {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct MemoryStatV2 {
            $(
                #[prost(uint64, tag = $tag)]
                pub $name: u64,
            )*
            #[prost(uint64, tag = "32")]
            pub usage: u64,
            #[prost(uint64, tag = "33")]
            pub usage_limit: u64,
        }

        impl MemoryStatV2 {
            /// The `memory.stat` counters, named as the kernel (and dockerd) name them.
            pub fn counters(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name)),*]
            }
        }
    };
}

memory_v2! {
    anon = "1", file = "2", kernel_stack = "3", slab = "4", sock = "5", shmem = "6",
    file_mapped = "7", file_dirty = "8", file_writeback = "9", anon_thp = "10",
    inactive_anon = "11", active_anon = "12", inactive_file = "13", active_file = "14",
    unevictable = "15", slab_reclaimable = "16", slab_unreclaimable = "17", pgfault = "18",
    pgmajfault = "19", workingset_refault = "20", workingset_activate = "21",
    workingset_nodereclaim = "22", pgrefill = "23", pgscan = "24", pgsteal = "25",
    pgactivate = "26", pgdeactivate = "27", pglazyfree = "28", pglazyfreed = "29",
    thp_fault_alloc = "30", thp_collapse_alloc = "31",
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IoStatV2 {
    #[prost(message, repeated, tag = "1")]
    pub usage: Vec<IoEntryV2>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IoEntryV2 {
    #[prost(uint64, tag = "1")]
    pub major: u64,
    #[prost(uint64, tag = "2")]
    pub minor: u64,
    #[prost(uint64, tag = "3")]
    pub rbytes: u64,
    #[prost(uint64, tag = "4")]
    pub wbytes: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MemoryEventsV2 {
    #[prost(uint64, tag = "5")]
    pub oom_kill: u64,
}
