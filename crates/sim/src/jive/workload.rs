//! The seeded workload: a mix of creates, edits, renames, moves, deletes, restores and comments
//! over documents, files, discussions, posts and ideas, by the community's people.

use super::community::{Community, ContentId};
use super::simulator::Operation;

/// The content types the workload creates.
pub const CONTENT_TYPES: [&str; 5] = ["document", "file", "discussion", "post", "idea"];

const WORDS: [&str; 24] = [
    "Q2",
    "plan",
    "outage",
    "roadmap",
    "budget",
    "review",
    "onboarding",
    "release",
    "notes",
    "incident",
    "retro",
    "design",
    "draft",
    "policy",
    "update",
    "Zürich",
    "offsite",
    "hiring",
    "metrics",
    "launch",
    "FAQ",
    "checklist",
    "proposal",
    "naïve",
];

#[derive(Debug)]
pub(crate) struct Workload {
    rng: fastrand::Rng,
}

impl Workload {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    pub fn subject(&mut self) -> String {
        let n = self.rng.usize(2..=4);
        let words: Vec<&str> = (0..n)
            .map(|_| WORDS[self.rng.usize(..WORDS.len())])
            .collect();
        let mut s = words.join(" ");
        if self.rng.u8(..4) == 0 {
            s.push_str(&format!(" #{}", self.rng.u16(1..1000)));
        }
        s
    }

    pub fn content_type(&mut self) -> &'static str {
        CONTENT_TYPES[self.rng.usize(..CONTENT_TYPES.len())]
    }

    /// The next operation and the person (index) making it.
    pub fn next(&mut self, community: &Community) -> (Operation, usize) {
        let by = self.rng.usize(..community.people.len());
        let roll = self.rng.u8(..100);
        let live = self.live(community);
        let op = match (roll, live) {
            (0..30, _) | (_, None) => self.create(community),
            (30..55, Some(content_id)) => Operation::Edit { content_id },
            (55..70, Some(content_id)) => Operation::Comment { content_id },
            (70..78, Some(content_id)) => Operation::Rename {
                content_id,
                subject: self.subject(),
            },
            (78..86, Some(content_id)) => Operation::Move {
                content_id,
                place: community.places[self.rng.usize(..community.places.len())].place_id,
            },
            (86..96, Some(content_id)) => Operation::Delete { content_id },
            (_, Some(_)) => match community.deleted.len() {
                0 => self.create(community),
                n => Operation::Restore {
                    content_id: community.deleted[self.rng.usize(..n)],
                },
            },
        };
        (op, by)
    }

    fn create(&mut self, community: &Community) -> Operation {
        Operation::Create {
            content_type: self.content_type().to_owned(),
            subject: self.subject(),
            place: community.places[self.rng.usize(..community.places.len())].place_id,
        }
    }

    /// A random live item, if one is found in a few tries.
    fn live(&mut self, community: &Community) -> Option<ContentId> {
        if community.live_count() == 0 {
            return None;
        }
        (0..16).find_map(|_| {
            let c = &community.contents[self.rng.usize(..community.contents.len())];
            (!c.deleted).then_some(c.content_id)
        })
    }
}
