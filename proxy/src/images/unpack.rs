//! Unpacking layers into committed snapshots named by chain ID, as containerd's unpacker
//! does: `Snapshots.Prepare` on the parent chain, `Diff.Apply` of the layer blob into the
//! prepared mounts, `Snapshots.Commit` under the chain ID. A chain already unpacked (by this
//! or another image) is reused.

use std::collections::HashMap;

use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
};
use containerd_client::services::v1::ApplyRequest;
use containerd_client::types::Descriptor;
use sha2::{Digest as _, Sha256};

use super::error::{grpc, ImagesError, Result};
use super::ingest::{random_suffix, Lease};
use crate::containerd::Containerd;

/// Chain IDs of a layer stack: `chain[0] = diff[0]`,
/// `chain[n] = sha256(chain[n-1] + " " + diff[n])` (the OCI image spec's definition).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => {
                let h = Sha256::digest(format!("{parent} {d}").as_bytes());
                format!("sha256:{}", hex::encode(h))
            }
        };
        out.push(next);
    }
    out
}

/// Whether a snapshot exists.
pub async fn snapshot_exists(cd: &Containerd, snapshotter: &str, key: &str) -> Result<bool> {
    match cd
        .snapshots()
        .stat(StatSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: key.to_string(),
        })
        .await
    {
        Ok(_) => Ok(true),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
        Err(s) => Err(grpc(format!("Snapshots.Stat {key}"))(s)),
    }
}

/// Removes a snapshot; a missing one is not an error.
pub async fn remove_snapshot(cd: &Containerd, snapshotter: &str, key: &str) -> Result<()> {
    match cd
        .snapshots()
        .remove(RemoveSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: key.to_string(),
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
        Err(s) => Err(grpc(format!("Snapshots.Remove {key}"))(s)),
    }
}

/// One layer to unpack: its blob (already in the content store) and diff ID.
pub struct LayerToApply {
    pub blob: Descriptor,
    pub diff_id: String,
}

/// Unpacks the layers in order; returns the top chain ID (`None` for an image without
/// layers). Every snapshot, new or reused, joins the lease.
pub async fn unpack(
    cd: &Containerd,
    snapshotter: &str,
    lease: &Lease,
    layers: &[LayerToApply],
) -> Result<Option<String>> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let chains = chain_ids(&diff_ids);
    let lease_kind = format!("snapshots/{snapshotter}");
    let mut parent = String::new();
    for (layer, chain) in layers.iter().zip(&chains) {
        if snapshot_exists(cd, snapshotter, chain).await? {
            lease.add(&lease_kind, chain).await?;
        } else {
            apply_one(cd, snapshotter, lease, layer, &parent, chain).await?;
        }
        parent = chain.clone();
    }
    Ok(chains.last().cloned())
}

/// Unpacks one layer on top of `parent` (a chain ID, empty for the base layer) unless its
/// chain is already there; the snapshot joins the lease either way. Returns whether it
/// had to be applied. A pull calls this layer by layer as downloads finish.
pub async fn unpack_layer(
    cd: &Containerd,
    snapshotter: &str,
    lease: &Lease,
    layer: &LayerToApply,
    parent: &str,
    chain: &str,
) -> Result<bool> {
    if snapshot_exists(cd, snapshotter, chain).await? {
        lease
            .add(&format!("snapshots/{snapshotter}"), chain)
            .await?;
        return Ok(false);
    }
    apply_one(cd, snapshotter, lease, layer, parent, chain).await?;
    Ok(true)
}

async fn apply_one(
    cd: &Containerd,
    snapshotter: &str,
    lease: &Lease,
    layer: &LayerToApply,
    parent: &str,
    chain: &str,
) -> Result<()> {
    let key = format!("extract-{} {chain}", random_suffix());
    let mounts = cd
        .snapshots()
        .prepare(lease.request(PrepareSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: key.clone(),
            parent: parent.to_string(),
            labels: HashMap::new(),
        }))
        .await
        .map_err(grpc(format!(
            "Snapshots.Prepare for layer {}",
            layer.diff_id
        )))?
        .into_inner()
        .mounts;
    let result = async {
        let applied = cd
            .diff()
            .apply(lease.request(ApplyRequest {
                diff: Some(layer.blob.clone()),
                mounts,
                payloads: HashMap::new(),
                sync_fs: false,
            }))
            .await
            .map_err(grpc(format!("Diff.Apply of layer {}", layer.blob.digest)))?
            .into_inner()
            .applied
            .map(|d| d.digest)
            .unwrap_or_default();
        // Verified before ingest already; this catches a layer that changed since.
        if applied != layer.diff_id {
            return Err(ImagesError::DigestMismatch {
                what: format!("layer {}", layer.blob.digest),
                expected: layer.diff_id.clone(),
                actual: applied,
            });
        }
        match cd
            .snapshots()
            .commit(lease.request(CommitSnapshotRequest {
                snapshotter: snapshotter.to_string(),
                name: chain.to_string(),
                key: key.clone(),
                labels: HashMap::new(),
            }))
            .await
        {
            Ok(_) => Ok(false),
            // Unpacked concurrently by another load: keep theirs, drop ours.
            Err(s) if s.code() == tonic::Code::AlreadyExists => Ok(true),
            Err(s) => Err(grpc(format!("Snapshots.Commit {chain}"))(s)),
        }
    }
    .await;
    match result {
        Ok(false) => Ok(()),
        Ok(true) => {
            remove_snapshot(cd, snapshotter, &key).await?;
            lease.add(&format!("snapshots/{snapshotter}"), chain).await
        }
        Err(e) => {
            if let Err(re) = remove_snapshot(cd, snapshotter, &key).await {
                tracing::warn!("removing failed extraction snapshot {key}: {re}");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = "sha256:a".to_string();
        let b = "sha256:b".to_string();
        let chains = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chains[0], a);
        let expect = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(b"sha256:a sha256:b"))
        );
        assert_eq!(chains[1], expect);
        assert!(chain_ids(&[]).is_empty());
    }
}
