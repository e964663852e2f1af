//! Sentences for people: tocsin's own words, with the people and channels
//! they name kept as Slack ids, so that each receiver names them its own way
//! (Slack as mentions and channel links). The domain and the use cases say
//! who and what; they never write a platform's markup.

use std::fmt;

/// A sentence for a person: a refusal, an "already", a timeline line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sentence(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// tocsin's own words, or a configured name: shown as they are.
    Text(String),
    /// A person, by Slack id.
    User(String),
    /// A channel, by Slack id.
    Channel(String),
}

impl Sentence {
    pub fn new() -> Sentence {
        Sentence::default()
    }

    pub fn text(self, s: impl Into<String>) -> Sentence {
        self.part(Part::Text(s.into()))
    }

    pub fn user(self, slack_id: impl Into<String>) -> Sentence {
        self.part(Part::User(slack_id.into()))
    }

    pub fn channel(self, slack_id: impl Into<String>) -> Sentence {
        self.part(Part::Channel(slack_id.into()))
    }

    pub fn part(mut self, p: Part) -> Sentence {
        self.0.push(p);
        self
    }

    pub fn parts(&self) -> &[Part] {
        &self.0
    }
}

impl From<String> for Sentence {
    fn from(s: String) -> Sentence {
        Sentence::new().text(s)
    }
}

impl From<&str> for Sentence {
    fn from(s: &str) -> Sentence {
        Sentence::new().text(s)
    }
}

/// The plain form, for logs and files: people and channels by id, as
/// `@U…` and `#C…` (what Slack's markup reads as once stripped).
impl fmt::Display for Sentence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match p {
                Part::Text(t) => f.write_str(t)?,
                Part::User(id) => write!(f, "@{id}")?,
                Part::Channel(id) => write!(f, "#{id}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_form_names_people_and_channels_by_id() {
        let s = Sentence::new()
            .user("U0BOB")
            .text(" opened ")
            .channel("C0ROOM");
        assert_eq!(s.to_string(), "@U0BOB opened #C0ROOM");
        assert_eq!(
            s.parts(),
            [
                Part::User("U0BOB".into()),
                Part::Text(" opened ".into()),
                Part::Channel("C0ROOM".into())
            ]
        );
        assert_eq!(Sentence::from("plain").to_string(), "plain");
    }
}
