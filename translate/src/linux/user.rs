//! `--user` resolution against the image's `/etc/passwd` and `/etc/group`, with the semantics
//! (and error messages) of `github.com/moby/sys/user`'s `GetExecUser`, which dockerd uses.

use oci_spec::runtime::User;

use super::{blank, invalid};
use crate::Error;

const MAX_ID: i64 = i32::MAX as i64;
const ERR_RANGE: &str = "uids and gids must be in range 0-2147483647";

/// A resolved `user[:group]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups from `/etc/group` membership (only when the group is implicit).
    pub sgids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

/// Go's `strconv.Atoi` with errors ignored, as moby's `parseLine` does for id fields of
/// misbehaving files.
fn atoi_lenient(s: &str) -> i64 {
    s.parse().unwrap_or(0)
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("");
            PasswdEntry {
                name: field(0),
                uid: atoi_lenient(field(2)),
                gid: atoi_lenient(field(3)),
                home: field(5),
            }
        })
}

fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    group
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("");
            let members = if field(3).is_empty() {
                Vec::new()
            } else {
                field(3).split(',').collect()
            };
            GroupEntry {
                name: field(0),
                gid: atoi_lenient(field(2)),
                members,
            }
        })
}

/// `Some(id)` if `s` is numeric (then it is always an id, never a name); out-of-range ids
/// are an error, as in moby's `parseNumeric`.
fn parse_numeric(s: &str) -> Result<Option<i64>, Error> {
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<i64>() {
        Ok(id) if (0..=MAX_ID).contains(&id) => Ok(Some(id)),
        Ok(_) => Err(invalid(ERR_RANGE)),
        Err(e) => match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                Err(invalid(ERR_RANGE))
            }
            _ => Ok(None),
        },
    }
}

/// Ids in files are kept as Go keeps them: converted to uint32 with wrap-around.
fn id32(v: i64) -> u32 {
    v as u32
}

/// Resolves `user`, `uid`, `user:group`, `uid:gid` … (`""` is uid 0) against the files.
pub fn get_exec_user(
    user_spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, Error> {
    let mut parts = user_spec.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_arg = parse_numeric(user_arg)?;
    let gid_arg = parse_numeric(group_arg)?;

    let mut user = ExecUser::default();
    let mut matched_name: Option<&str> = None;
    let found = passwd.and_then(|p| {
        passwd_entries(p).find(|u| match (user_arg.is_empty(), uid_arg) {
            (true, _) => u.uid == 0,
            (false, Some(uid)) => u.uid == uid,
            (false, None) => u.name == user_arg,
        })
    });
    if let Some(u) = found {
        matched_name = Some(u.name);
        user.uid = id32(u.uid);
        user.gid = id32(u.gid);
        user.home = u.home.to_string();
    } else if !user_arg.is_empty() {
        match uid_arg {
            Some(uid) => user.uid = id32(uid),
            None => {
                return Err(invalid(format!(
                    "unable to find user {user_arg}: no matching entries in passwd file"
                )));
            }
        }
    }

    if group_arg.is_empty() && matched_name.is_none() {
        return Ok(user);
    }
    let groups: Vec<GroupEntry<'_>> = group
        .map(|g| {
            group_entries(g)
                .filter(|g| match (group_arg.is_empty(), gid_arg) {
                    (true, _) => matched_name.is_some_and(|n| g.members.contains(&n)),
                    (false, Some(gid)) => g.gid == gid,
                    (false, None) => g.name == group_arg,
                })
                .collect()
        })
        .unwrap_or_default();
    if !group_arg.is_empty() {
        match (groups.first(), gid_arg) {
            (Some(g), _) => user.gid = id32(g.gid),
            (None, Some(gid)) => user.gid = id32(gid),
            (None, None) => {
                return Err(invalid(format!(
                    "unable to find group {group_arg}: no matching entries in group file"
                )));
            }
        }
    } else {
        user.sgids = groups.iter().map(|g| id32(g.gid)).collect();
    }
    Ok(user)
}

/// `--group-add` values (names or ids) → gids, in the order given without duplicates.
/// Unknown names are an error; unknown numeric ids are used as they are.
pub fn additional_groups(names: &[String], group: Option<&str>) -> Result<Vec<u32>, Error> {
    let mut out: Vec<u32> = Vec::new();
    for ag in names {
        let numeric = parse_numeric(ag)?;
        let found = group.and_then(|g| {
            group_entries(g).find(|g| match numeric {
                Some(id) => g.gid == id,
                None => g.name == ag.as_str(),
            })
        });
        let gid = match (found, numeric) {
            (Some(g), _) => {
                if !(0..=MAX_ID).contains(&g.gid) {
                    return Err(invalid(ERR_RANGE));
                }
                id32(g.gid)
            }
            (None, Some(id)) => id32(id),
            (None, None) => {
                return Err(invalid(format!(
                    "unable to find group {ag}: no matching entries in group file"
                )))
            }
        };
        if !out.contains(&gid) {
            out.push(gid);
        }
    }
    Ok(out)
}

/// The process user as dockerd's `getUser` builds it: `additionalGids` is the primary gid,
/// then the `/etc/group` memberships, then `--group-add`.
pub fn resolve_user(
    user_spec: &str,
    group_add: &[String],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<User, Error> {
    let eu = get_exec_user(user_spec, passwd, group)?;
    let mut gids = vec![eu.gid];
    gids.extend(eu.sgids.iter().copied());
    gids.extend(additional_groups(group_add, group)?);
    let mut u = blank::<User>(serde_json::json!({ "uid": eu.uid, "gid": eu.gid }))?;
    u.set_additional_gids(Some(gids));
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n# comment\nwheel:x:10:root,app\napp:x:1000:\nstaff:x:50:app\n";

    fn get(spec: &str) -> Result<ExecUser, Error> {
        get_exec_user(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn default_user_is_root_with_memberships() {
        let u = get("").unwrap();
        assert_eq!((u.uid, u.gid, u.sgids.clone()), (0, 0, vec![10]));
        assert_eq!(u.home, "/root");
        // No passwd file: plain uid 0.
        assert_eq!(get_exec_user("", None, None).unwrap(), ExecUser::default());
    }

    #[test]
    fn names_and_ids() {
        let u = get("app").unwrap();
        assert_eq!((u.uid, u.gid, u.sgids), (1000, 1000, vec![10, 50]));
        let u = get("1000").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        let u = get("4242:4343").unwrap();
        assert_eq!((u.uid, u.gid, u.sgids), (4242, 4343, vec![]));
        let u = get("app:staff").unwrap();
        assert_eq!((u.uid, u.gid, u.sgids), (1000, 50, vec![]));
        let u = get("daemon:0").unwrap();
        assert_eq!((u.uid, u.gid), (1, 0));
    }

    #[test]
    fn errors_match_moby() {
        assert_eq!(
            get("nobody").unwrap_err().to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert_eq!(
            get_exec_user("nobody", None, None).unwrap_err().to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert_eq!(
            get("app:nogroup").unwrap_err().to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert_eq!(get("-1").unwrap_err().to_string(), ERR_RANGE);
        assert_eq!(
            get("99999999999999999999").unwrap_err().to_string(),
            ERR_RANGE
        );
    }

    #[test]
    fn group_add() {
        let g =
            additional_groups(&["staff".into(), "77".into(), "50".into()], Some(GROUP)).unwrap();
        assert_eq!(g, vec![50, 77]);
        assert!(additional_groups(&["nope".into()], None).is_err());
        let u = resolve_user(
            "app",
            &["wheel".into(), "7".into()],
            Some(PASSWD),
            Some(GROUP),
        )
        .unwrap();
        assert_eq!(
            u.additional_gids().as_deref(),
            Some(&[1000, 10, 50, 10, 7][..])
        );
    }
}
