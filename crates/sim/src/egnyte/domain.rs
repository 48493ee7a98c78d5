//! The domain's content: folders, files with versions, notes, and the trash.
//!
//! Paths are absolute (`/Shared/Plans/budget.xlsx`), case-sensitive here, under the two roots
//! `/Shared` and `/Private`, which cannot be deleted, renamed, moved or copied. Every operation
//! returns the [`Change`] it causes; the simulator turns it into an event.

use super::event::{Action, Change, EventData, EventKind, fs_url};
use crate::random::uuid;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The trash keeps this many deleted items; older ones are purged silently (the Events API
/// documents no purge event).
const TRASH_CAPACITY: usize = 1000;
const ROOTS: [&str; 2] = ["/Shared", "/Private"];

/// Why an operation on the tree was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error(
        "invalid path {0:?}: absolute, under /Shared or /Private, no empty, '.' or '..' segments"
    )]
    BadPath(String),
    #[error("invalid name {0:?}: empty, or contains one of / \\ : * ? \" < > |")]
    BadName(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} is not a file")]
    NotAFile(String),
    #[error("{0} is not a folder")]
    NotAFolder(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} is a root folder")]
    Root(String),
    #[error("cannot move or copy {0} into itself")]
    IntoItself(String),
    #[error("nothing named {0} in the trash")]
    NotInTrash(String),
    #[error("note {0} does not exist")]
    NoteNotFound(String),
}

/// A file: its group id (the file as a whole) and its current version's entry id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileNode {
    pub group_id: String,
    pub entry_id: String,
}

/// A note on a file; it follows the file when the file is renamed or moved.
#[derive(Debug, Clone)]
struct Note {
    path: String,
}

/// A deleted file or folder (with its subtree, paths relative to it).
#[derive(Debug, Clone)]
enum Trashed {
    File {
        path: String,
        node: FileNode,
    },
    Folder {
        path: String,
        folders: Vec<String>,
        files: Vec<(String, FileNode)>,
    },
}

impl Trashed {
    fn path(&self) -> &str {
        match self {
            Self::File { path, .. } | Self::Folder { path, .. } => path,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Tree {
    base_url: String,
    rng: fastrand::Rng,
    folders: BTreeSet<String>,
    files: BTreeMap<String, FileNode>,
    notes: BTreeMap<String, Note>,
    trash: VecDeque<Trashed>,
}

impl Tree {
    pub fn new(base_url: String, seed: u64) -> Self {
        Self {
            base_url,
            rng: fastrand::Rng::with_seed(seed),
            folders: ROOTS.iter().map(|r| (*r).to_owned()).collect(),
            files: BTreeMap::new(),
            notes: BTreeMap::new(),
            trash: VecDeque::new(),
        }
    }

    pub fn folders(&self) -> &BTreeSet<String> {
        &self.folders
    }

    pub fn files(&self) -> &BTreeMap<String, FileNode> {
        &self.files
    }

    pub fn note_ids(&self) -> impl ExactSizeIterator<Item = &String> {
        self.notes.keys()
    }

    pub fn trashed_paths(&self) -> impl ExactSizeIterator<Item = &str> {
        self.trash.iter().map(Trashed::path)
    }

    pub fn create_folder(&mut self, path: &str) -> Result<Change, OpError> {
        let path = check_path(path)?;
        self.check_free(&path)?;
        self.check_parent(&path)?;
        self.folders.insert(path.clone());
        Ok(self.change(Action::Create, &path, folder_data(None, &path)))
    }

    pub fn create_file(&mut self, path: &str) -> Result<(Change, FileNode), OpError> {
        let path = check_path(path)?;
        self.check_free(&path)?;
        self.check_parent(&path)?;
        let node = FileNode {
            group_id: uuid(&mut self.rng),
            entry_id: uuid(&mut self.rng),
        };
        self.files.insert(path.clone(), node.clone());
        Ok((
            self.change(Action::Create, &path, file_data(None, &path, &node)),
            node,
        ))
    }

    pub fn new_version(&mut self, path: &str) -> Result<(Change, FileNode), OpError> {
        let path = check_path(path)?;
        let entry_id = uuid(&mut self.rng);
        let node = match self.files.get_mut(&path) {
            Some(node) => {
                node.entry_id = entry_id;
                node.clone()
            }
            None if self.folders.contains(&path) => return Err(OpError::NotAFile(path)),
            None => return Err(OpError::NotFound(path)),
        };
        Ok((
            self.change(Action::Create, &path, file_data(None, &path, &node)),
            node,
        ))
    }

    pub fn rename(&mut self, path: &str, new_name: &str) -> Result<Change, OpError> {
        check_name(new_name)?;
        let from = self.check_movable(path)?;
        let to = format!("{}/{new_name}", parent(&from));
        self.relocate(Action::Rename, from, to)
    }

    pub fn move_to(&mut self, path: &str, folder: &str) -> Result<Change, OpError> {
        let from = self.check_movable(path)?;
        let folder = check_path(folder)?;
        if !self.folders.contains(&folder) {
            return Err(OpError::NotAFolder(folder));
        }
        let to = format!("{folder}/{}", name(&from));
        self.relocate(Action::Move, from, to)
    }

    fn relocate(&mut self, action: Action, from: String, to: String) -> Result<Change, OpError> {
        if is_within(&to, &from) {
            return Err(OpError::IntoItself(from));
        }
        self.check_free(&to)?;
        if let Some(node) = self.files.remove(&from) {
            let data = file_data(Some(&from), &to, &node);
            self.files.insert(to.clone(), node);
            self.move_notes(&from, &to);
            return Ok(self.change(action, &to, data));
        }
        let (folders, files) = self.take_subtree(&from);
        for rel in folders {
            self.folders.insert(format!("{to}{rel}"));
        }
        for (rel, node) in files {
            self.move_notes(&format!("{from}{rel}"), &format!("{to}{rel}"));
            self.files.insert(format!("{to}{rel}"), node);
        }
        Ok(self.change(action, &to, folder_data(Some(&from), &to)))
    }

    pub fn copy(&mut self, path: &str, to: &str) -> Result<(Change, Option<FileNode>), OpError> {
        let from = self.check_movable(path)?;
        let to = check_path(to)?;
        if is_within(&to, &from) {
            return Err(OpError::IntoItself(from));
        }
        self.check_free(&to)?;
        self.check_parent(&to)?;
        if let Some(source) = self.files.get(&from).cloned() {
            let node = FileNode {
                group_id: uuid(&mut self.rng),
                entry_id: uuid(&mut self.rng),
            };
            self.files.insert(to.clone(), node.clone());
            let data = EventData {
                source_id: Some(source.entry_id),
                source_group_id: Some(source.group_id),
                ..file_data(Some(&from), &to, &node)
            };
            return Ok((self.change(Action::Copy, &to, data), Some(node)));
        }
        let prefix = format!("{from}/");
        let folders: Vec<String> = subtree(&self.folders, &from, &prefix)
            .map(|f| format!("{to}{}", &f[from.len()..]))
            .collect();
        let files: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| format!("{to}{}", &p[from.len()..]))
            .collect();
        self.folders.extend(folders);
        for path in files {
            let node = FileNode {
                group_id: uuid(&mut self.rng),
                entry_id: uuid(&mut self.rng),
            };
            self.files.insert(path, node);
        }
        Ok((
            self.change(Action::Copy, &to, folder_data(Some(&from), &to)),
            None,
        ))
    }

    pub fn delete(&mut self, path: &str) -> Result<Change, OpError> {
        let path = self.check_movable(path)?;
        let (item, data) = match self.files.remove(&path) {
            Some(node) => {
                let data = EventData {
                    target_path: Some(path.clone()),
                    target_group_id: Some(node.group_id.clone()),
                    is_folder: Some(false),
                    ..EventData::default()
                };
                (
                    Trashed::File {
                        path: path.clone(),
                        node,
                    },
                    data,
                )
            }
            None => {
                let (folders, files) = self.take_subtree(&path);
                (
                    Trashed::Folder {
                        path: path.clone(),
                        folders,
                        files,
                    },
                    folder_data(None, &path),
                )
            }
        };
        if self.trash.len() >= TRASH_CAPACITY {
            self.trash.pop_front();
        }
        self.trash.push_back(item);
        Ok(Change {
            kind: EventKind::FileSystem,
            action: Action::Delete,
            object_detail: None,
            data,
            type_specific: None,
        })
    }

    /// Restores the most recently deleted item at `path`. `action` is `Restore` or `Create`.
    pub fn restore(&mut self, path: &str, action: Action) -> Result<Change, OpError> {
        let path = check_path(path)?;
        let index = self
            .trash
            .iter()
            .rposition(|t| t.path() == path)
            .ok_or_else(|| OpError::NotInTrash(path.clone()))?;
        self.check_free(&path)?;
        self.check_parent(&path)?;
        let Some(item) = self.trash.remove(index) else {
            return Err(OpError::NotInTrash(path));
        };
        let data = match item {
            Trashed::File { node, .. } => {
                let data = file_data(None, &path, &node);
                self.files.insert(path.clone(), node);
                data
            }
            Trashed::Folder { folders, files, .. } => {
                for rel in folders {
                    self.folders.insert(format!("{path}{rel}"));
                }
                for (rel, node) in files {
                    self.files.insert(format!("{path}{rel}"), node);
                }
                folder_data(None, &path)
            }
        };
        Ok(self.change(action, &path, data))
    }

    pub fn create_note(&mut self, path: &str) -> Result<(Change, String), OpError> {
        let path = check_path(path)?;
        if !self.files.contains_key(&path) {
            return Err(if self.folders.contains(&path) {
                OpError::NotAFile(path)
            } else {
                OpError::NotFound(path)
            });
        }
        let note_id = uuid(&mut self.rng);
        self.notes
            .insert(note_id.clone(), Note { path: path.clone() });
        let change = Change {
            kind: EventKind::Note,
            action: Action::Create,
            object_detail: Some(format!("{}/pubapi/v1/notes/{note_id}", self.base_url)),
            data: note_data(&note_id, &path),
            type_specific: None,
        };
        Ok((change, note_id))
    }

    pub fn delete_note(&mut self, note_id: &str) -> Result<Change, OpError> {
        let note = self
            .notes
            .remove(note_id)
            .ok_or_else(|| OpError::NoteNotFound(note_id.to_owned()))?;
        Ok(Change {
            kind: EventKind::Note,
            action: Action::Delete,
            object_detail: None,
            data: note_data(note_id, &note.path),
            type_specific: None,
        })
    }

    /// A v2 `permission_change` on a folder: `subject_user` gets `privilege` (`NONE` removes it).
    pub fn change_permission(
        &mut self,
        path: &str,
        subject_user: i64,
        privilege: &str,
    ) -> Result<Change, OpError> {
        let path = check_path(path)?;
        if !self.folders.contains(&path) {
            return Err(OpError::NotAFolder(path));
        }
        let action = if privilege.eq_ignore_ascii_case("NONE") {
            "DELETE"
        } else {
            "ADD"
        };
        let attrs = serde_json::json!({
            "changeGroupEvents": [],
            "changePermissionEvent": {"changedPermissions": [
                {"action": action, "entry": {"subject": format!("/user/{subject_user}"), "priv": privilege}}
            ]},
            "changeContext": null,
            "targetFolderId": uuid(&mut self.rng),
            "groupChange": false,
        });
        let mut change = self.change(Action::PermissionChange, &path, folder_data(None, &path));
        change.kind = EventKind::PermissionChange;
        change.type_specific = Some(attrs);
        Ok(change)
    }

    fn change(&self, action: Action, path: &str, data: EventData) -> Change {
        Change {
            kind: EventKind::FileSystem,
            action,
            object_detail: Some(fs_url(&self.base_url, path)),
            data,
            type_specific: None,
        }
    }

    fn check_free(&self, path: &str) -> Result<(), OpError> {
        if self.folders.contains(path) || self.files.contains_key(path) {
            return Err(OpError::AlreadyExists(path.to_owned()));
        }
        Ok(())
    }

    fn check_parent(&self, path: &str) -> Result<(), OpError> {
        let parent = parent(path);
        if !self.folders.contains(parent) {
            return Err(if self.files.contains_key(parent) {
                OpError::NotAFolder(parent.to_owned())
            } else {
                OpError::NotFound(parent.to_owned())
            });
        }
        Ok(())
    }

    /// An existing file or non-root folder.
    fn check_movable(&self, path: &str) -> Result<String, OpError> {
        let path = check_path(path)?;
        if ROOTS.contains(&path.as_str()) {
            return Err(OpError::Root(path));
        }
        if !self.folders.contains(&path) && !self.files.contains_key(&path) {
            return Err(OpError::NotFound(path));
        }
        Ok(path)
    }

    /// Removes a folder and everything under it; returns the paths relative to it ("" for itself).
    fn take_subtree(&mut self, path: &str) -> (Vec<String>, Vec<(String, FileNode)>) {
        let prefix = format!("{path}/");
        let folders: Vec<String> = subtree(&self.folders, path, &prefix).cloned().collect();
        for f in &folders {
            self.folders.remove(f);
        }
        let file_paths: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .collect();
        let files = file_paths
            .into_iter()
            .filter_map(|p| {
                self.files
                    .remove(&p)
                    .map(|node| (p[path.len()..].to_owned(), node))
            })
            .collect();
        (
            folders
                .into_iter()
                .map(|f| f[path.len()..].to_owned())
                .collect(),
            files,
        )
    }

    fn move_notes(&mut self, from: &str, to: &str) {
        for note in self.notes.values_mut().filter(|n| n.path == from) {
            note.path = to.to_owned();
        }
    }
}

/// The folder itself (if present) and every folder below it.
fn subtree<'a>(
    set: &'a BTreeSet<String>,
    path: &'a str,
    prefix: &'a str,
) -> impl Iterator<Item = &'a String> {
    set.get(path).into_iter().chain(
        set.range(prefix.to_owned()..)
            .take_while(move |p| p.starts_with(prefix)),
    )
}

fn file_data(source: Option<&str>, path: &str, node: &FileNode) -> EventData {
    EventData {
        source_path: source.map(str::to_owned),
        target_path: Some(path.to_owned()),
        target_id: Some(node.entry_id.clone()),
        target_group_id: Some(node.group_id.clone()),
        is_folder: Some(false),
        ..EventData::default()
    }
}

fn folder_data(source: Option<&str>, path: &str) -> EventData {
    EventData {
        source_path: source.map(str::to_owned),
        target_path: Some(path.to_owned()),
        is_folder: Some(true),
        ..EventData::default()
    }
}

fn note_data(note_id: &str, path: &str) -> EventData {
    EventData {
        note_id: Some(note_id.to_owned()),
        target_path: Some(path.to_owned()),
        ..EventData::default()
    }
}

/// Validates an absolute path and drops a trailing `/`.
pub(crate) fn check_path(path: &str) -> Result<String, OpError> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let bad = || OpError::BadPath(path.to_owned());
    let rest = trimmed.strip_prefix('/').ok_or_else(bad)?;
    let mut segments = rest.split('/');
    if !matches!(segments.next(), Some("Shared" | "Private")) {
        return Err(bad());
    }
    for segment in segments {
        if segment == "." || segment == ".." || check_name(segment).is_err() {
            return Err(bad());
        }
    }
    Ok(trimmed.to_owned())
}

fn check_name(name: &str) -> Result<(), OpError> {
    if name.is_empty() || name.contains(['/', '\\', ':', '*', '?', '"', '<', '>', '|']) {
        return Err(OpError::BadName(name.to_owned()));
    }
    Ok(())
}

pub(crate) fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn name(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// Whether `path` is `folder` or below it.
fn is_within(path: &str, folder: &str) -> bool {
    path == folder
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        Tree::new("https://acme.egnyte.com".to_owned(), 1)
    }

    #[test]
    fn moving_a_folder_carries_its_subtree_and_notes() {
        let mut t = tree();
        t.create_folder("/Shared/a").unwrap();
        t.create_folder("/Shared/a/b").unwrap();
        t.create_folder("/Shared/ab").unwrap();
        let (_, node) = t.create_file("/Shared/a/b/f.txt").unwrap();
        let (_, note) = t.create_note("/Shared/a/b/f.txt").unwrap();
        t.move_to("/Shared/a", "/Shared/ab").unwrap();
        assert!(t.folders().contains("/Shared/ab/a/b"));
        assert!(!t.folders().contains("/Shared/a"));
        assert_eq!(t.files().get("/Shared/ab/a/b/f.txt"), Some(&node));
        assert_eq!(
            t.delete_note(&note).unwrap().data.target_path.as_deref(),
            Some("/Shared/ab/a/b/f.txt")
        );
    }

    #[test]
    fn refuses_bad_paths_and_moves_into_itself() {
        let mut t = tree();
        assert_eq!(
            t.create_folder("relative"),
            Err(OpError::BadPath("relative".into()))
        );
        assert_eq!(
            t.create_folder("/Other/x"),
            Err(OpError::BadPath("/Other/x".into()))
        );
        assert_eq!(
            t.create_folder("/Shared/x/y"),
            Err(OpError::NotFound("/Shared/x".into()))
        );
        t.create_folder("/Shared/x").unwrap();
        t.create_folder("/Shared/x/y").unwrap();
        assert_eq!(
            t.move_to("/Shared/x", "/Shared/x/y"),
            Err(OpError::IntoItself("/Shared/x".into()))
        );
        assert_eq!(t.delete("/Shared"), Err(OpError::Root("/Shared".into())));
        assert_eq!(
            t.rename("/Shared/x", "a/b"),
            Err(OpError::BadName("a/b".into()))
        );
    }

    #[test]
    fn restores_a_deleted_folder_with_its_files() {
        let mut t = tree();
        t.create_folder("/Shared/x").unwrap();
        let (_, node) = t.create_file("/Shared/x/f").unwrap();
        t.delete("/Shared/x").unwrap();
        assert!(t.files().is_empty());
        t.restore("/Shared/x", Action::Restore).unwrap();
        assert_eq!(t.files().get("/Shared/x/f"), Some(&node));
        assert_eq!(
            t.restore("/Shared/x", Action::Restore),
            Err(OpError::NotInTrash("/Shared/x".into()))
        );
    }
}
