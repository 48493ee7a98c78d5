//! The seeded workload generator: a plausible mix of operations by several users, through the web
//! UI, the desktop and mobile clients, and several API clients (the caller's own among them, so
//! `suppress` has something to hide). The same seed and the same calls give the same events.
//!
//! The tree is kept small (about 60 folders, 400 files, 4 levels deep) so that any number of
//! events can be generated in linear time: past those sizes creates give way to deletes.

use super::config::EgnyteSimConfig;
use super::domain::{Tree, parent};
use super::event::{ActionSource, ActorSpec};
use super::simulator::Operation;

const MAX_FOLDERS: usize = 60;
const MAX_FILES: usize = 400;
/// Notes are capped like files, so a long workload stays linear (moving a file moves its notes).
const MAX_NOTES: usize = 200;
const MAX_DEPTH: usize = 4;

const FOLDER_NAMES: [&str; 10] = [
    "Plans",
    "Finance",
    "Marketing",
    "Legal",
    "Q1 Reports",
    "Design",
    "R&D",
    "Archive",
    "Clients",
    "Équipe",
];
const FILE_STEMS: [&str; 10] = [
    "budget",
    "notes",
    "contract",
    "Präsentation",
    "roadmap",
    "invoice",
    "minutes",
    "logo",
    "spec v2",
    "100% plan",
];
const FILE_EXTS: [&str; 6] = ["xlsx", "docx", "pdf", "txt", "png", "pptx"];

#[derive(Debug, Clone, Copy)]
enum Kind {
    CreateFolder,
    CreateFile,
    NewVersion,
    Rename,
    Move,
    Copy,
    Delete,
    Restore,
    CreateNote,
    DeleteNote,
    ChangePermission,
}

#[derive(Debug)]
pub(crate) struct Workload {
    rng: fastrand::Rng,
    users: Vec<i64>,
    clients: Vec<String>,
    own_client: String,
    permission_changes: bool,
    counter: u64,
}

impl Workload {
    pub fn new(config: &EgnyteSimConfig, own_client: String, seed: u64) -> Self {
        let mut users: Vec<i64> = config.users.iter().map(|u| u.id).collect();
        if users.is_empty() {
            users.push(1001);
        }
        let mut clients: Vec<String> = config.clients.iter().map(|c| c.client_id.clone()).collect();
        if !clients.contains(&own_client) {
            clients.push(own_client.clone());
        }
        Self {
            rng: fastrand::Rng::with_seed(seed),
            users,
            clients,
            own_client,
            permission_changes: config.emit_permission_change,
            counter: 0,
        }
    }

    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    /// An operation that always succeeds: a new folder with a fresh name under `/Shared`.
    pub fn fallback(&mut self) -> (Operation, ActorSpec) {
        self.counter += 1;
        let path = format!("/Shared/Workload {}", self.counter);
        (
            Operation::CreateFolder { path },
            ActorSpec::web(self.users[0]),
        )
    }

    /// The next operation and who performs it; it may fail (then the caller asks again).
    pub fn next(&mut self, tree: &Tree) -> (Operation, ActorSpec) {
        let by = self.actor();
        let op = match self.kind(tree) {
            Kind::CreateFolder => {
                let parent = self.pick_parent(tree);
                Operation::CreateFolder {
                    path: format!("{parent}/{}", self.folder_name()),
                }
            }
            Kind::CreateFile => {
                let parent = self.pick_parent(tree);
                Operation::CreateFile {
                    path: format!("{parent}/{}", self.file_name()),
                }
            }
            Kind::NewVersion => Operation::NewVersion {
                path: self.pick_file(tree),
            },
            Kind::Rename => {
                let path = self.pick_item(tree);
                let new_name = if tree.files().contains_key(&path) {
                    self.file_name()
                } else {
                    self.folder_name()
                };
                Operation::Rename { path, new_name }
            }
            Kind::Move => {
                let path = self.pick_item(tree);
                Operation::Move {
                    path,
                    to_folder: self.pick_parent(tree),
                }
            }
            Kind::Copy => {
                let path = self.pick_file(tree);
                let to = format!("{}/{}", self.pick_parent(tree), self.file_name());
                Operation::Copy { path, to }
            }
            Kind::Delete => Operation::Delete {
                path: self.pick_item(tree),
            },
            Kind::Restore => {
                let n = tree.trashed_paths().len();
                let path = tree
                    .trashed_paths()
                    .nth(self.rng.usize(..n.max(1)))
                    .unwrap_or("/Shared")
                    .to_owned();
                Operation::Restore { path }
            }
            Kind::CreateNote => Operation::CreateNote {
                path: self.pick_file(tree),
            },
            Kind::DeleteNote => {
                let n = tree.note_ids().len();
                let note_id = tree
                    .note_ids()
                    .nth(self.rng.usize(..n.max(1)))
                    .cloned()
                    .unwrap_or_default();
                Operation::DeleteNote { note_id }
            }
            Kind::ChangePermission => {
                let folder = self.pick_parent(tree);
                let subject_user = self.users[self.rng.usize(..self.users.len())];
                let privilege =
                    ["Viewer", "Editor", "Full", "Owner", "NONE"][self.rng.usize(..5)].to_owned();
                Operation::ChangePermission {
                    path: folder,
                    subject_user,
                    privilege,
                }
            }
        };
        (op, by)
    }

    fn kind(&mut self, tree: &Tree) -> Kind {
        let files = tree.files().len();
        let folders = tree.folders().len();
        let notes = tree.note_ids().len();
        let has_files = usize::from(files > 0);
        let has_items = usize::from(files + folders > 2);
        let weights = [
            (
                Kind::CreateFolder,
                if folders < MAX_FOLDERS { 8 } else { 0 },
            ),
            (Kind::CreateFile, if files < MAX_FILES { 25 } else { 0 }),
            (Kind::NewVersion, 20 * has_files),
            (Kind::Rename, 7 * has_items),
            (Kind::Move, 6 * has_items),
            (
                Kind::Copy,
                if files < MAX_FILES { 6 * has_files } else { 0 },
            ),
            (
                Kind::Delete,
                if files >= MAX_FILES || folders >= MAX_FOLDERS {
                    30
                } else {
                    8 * has_items
                },
            ),
            (
                Kind::Restore,
                if tree.trashed_paths().len() > 0 { 3 } else { 0 },
            ),
            (
                Kind::CreateNote,
                if notes < MAX_NOTES { 5 * has_files } else { 0 },
            ),
            (
                Kind::DeleteNote,
                match notes {
                    0 => 0,
                    n if n >= MAX_NOTES => 5,
                    _ => 2,
                },
            ),
            (
                Kind::ChangePermission,
                if self.permission_changes { 2 } else { 0 },
            ),
        ];
        let total: usize = weights.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.usize(..total.max(1));
        for (kind, weight) in weights {
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        Kind::CreateFolder
    }

    fn actor(&mut self) -> ActorSpec {
        let user = self.users[self.rng.usize(..self.users.len())];
        match self.rng.u8(..10) {
            0..=3 => {
                // Half of the API actions come through the caller's own client.
                let client = if self.rng.bool() {
                    self.own_client.clone()
                } else {
                    self.clients[self.rng.usize(..self.clients.len())].clone()
                };
                ActorSpec::api(user, client)
            }
            4..=6 => ActorSpec {
                user,
                source: ActionSource::WebUI,
                client_id: None,
            },
            7..=8 => ActorSpec {
                user,
                source: ActionSource::SyncEngine,
                client_id: None,
            },
            _ => ActorSpec {
                user,
                source: ActionSource::Mobile,
                client_id: None,
            },
        }
    }

    fn folder_name(&mut self) -> String {
        self.counter += 1;
        format!(
            "{} {}",
            FOLDER_NAMES[self.rng.usize(..FOLDER_NAMES.len())],
            self.counter
        )
    }

    fn file_name(&mut self) -> String {
        self.counter += 1;
        let stem = FILE_STEMS[self.rng.usize(..FILE_STEMS.len())];
        let ext = FILE_EXTS[self.rng.usize(..FILE_EXTS.len())];
        format!("{stem} {}.{ext}", self.counter)
    }

    /// A folder shallow enough to hold another level.
    fn pick_parent(&mut self, tree: &Tree) -> String {
        let shallow = tree
            .folders()
            .iter()
            .filter(|f| f.matches('/').count() < MAX_DEPTH);
        let candidates: Vec<&String> = shallow.collect();
        candidates
            .get(self.rng.usize(..candidates.len().max(1)))
            .map_or_else(|| "/Shared".to_owned(), |f| (*f).clone())
    }

    fn pick_file(&mut self, tree: &Tree) -> String {
        let n = tree.files().len();
        tree.files()
            .keys()
            .nth(self.rng.usize(..n.max(1)))
            .cloned()
            .unwrap_or_default()
    }

    /// A file (80 %) or a non-root folder.
    fn pick_item(&mut self, tree: &Tree) -> String {
        if self.rng.u8(..10) < 8 && !tree.files().is_empty() {
            return self.pick_file(tree);
        }
        let folders: Vec<&String> = tree
            .folders()
            .iter()
            .filter(|f| !parent(f).is_empty())
            .collect();
        folders
            .get(self.rng.usize(..folders.len().max(1)))
            .map_or_else(|| self.pick_file(tree), |f| (*f).clone())
    }
}
