//! The webhook mappings the services use, loaded once at start (and by
//! `tocsin check`): `integrations/NAME.toml` beside the config file wins over
//! the built-in mapping NAME, so a team can adjust a shipped one. Each
//! service's mail mapping (`email = { … }`) is compiled here too.

use super::webhook::Mapping;
use crate::config::Config;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Default, Clone)]
pub struct Mappings {
    by_name: HashMap<String, Arc<Mapping>>,
    /// Service id → its mail mapping, for services that set one.
    email: HashMap<String, Arc<Mapping>>,
}

impl Mappings {
    /// Compiles every mapping a service names; each problem is one line
    /// naming the file (or built-in) and line.
    pub fn load(config: &Config, config_dir: Option<&Path>) -> Result<Mappings, Vec<String>> {
        let mut by_name = HashMap::new();
        let mut problems = vec![];
        let mut email = HashMap::new();
        for (i, service) in config.services.iter().enumerate() {
            if let Some(intake) = &service.email {
                match super::email::mapping(Some(intake), &format!("services[{i}].email")) {
                    Ok(m) => {
                        email.insert(service.id.clone(), Arc::new(m));
                    }
                    Err(e) => problems.extend(e),
                }
            }
            let Some(name) = &service.webhook else {
                continue;
            };
            if by_name.contains_key(name) {
                continue;
            }
            let file = config_dir.map(|d| d.join("integrations").join(format!("{name}.toml")));
            let compiled = match file.as_ref().filter(|f| f.exists()) {
                Some(f) => match std::fs::read_to_string(f) {
                    Ok(text) => Mapping::parse(name, &text),
                    Err(e) => {
                        problems.push(format!("{}: cannot read: {e}", f.display()));
                        continue;
                    }
                },
                None => match Mapping::builtin(name) {
                    Some(m) => m,
                    None => {
                        problems.push(format!(
                            "services[{i}].webhook: no mapping `{name}`: not built in ({}) and no {}",
                            Mapping::builtin_names().join(", "),
                            file.map_or("integrations/ directory".into(), |f| f
                                .display()
                                .to_string())
                        ));
                        continue;
                    }
                },
            };
            match compiled {
                Ok(m) => {
                    by_name.insert(name.clone(), Arc::new(m));
                }
                Err(errors) => problems.extend(errors.iter().map(|e| e.to_string())),
            }
        }
        if problems.is_empty() {
            Ok(Mappings { by_name, email })
        } else {
            Err(problems)
        }
    }

    pub fn get(&self, name: &str) -> Option<&Mapping> {
        self.by_name.get(name).map(|m| m.as_ref())
    }

    /// How mail to the service `service_id` is read.
    pub fn email(&self, service_id: &str) -> &Mapping {
        match self.email.get(service_id) {
            Some(m) => m,
            None => super::email::default_mapping(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(webhook: &str) -> Config {
        let text = format!(
            "[[teams]]\nid = \"t\"\nname = \"T\"\n[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\n\
             integration_key = \"0123456789abcdef0123456789abcdef\"\nwebhook = \"{webhook}\"\n"
        );
        Config::parse("t.toml", &text).unwrap()
    }

    #[test]
    fn built_ins_load_and_files_beside_the_config_win() {
        let m = Mappings::load(&config("datadog"), None).unwrap();
        assert!(m.get("datadog").is_some());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("integrations")).unwrap();
        std::fs::write(
            dir.path().join("integrations/mytool.toml"),
            "title = \"payload.name\"\nseverity = \"'critical' if payload.down else 'info'\"\n",
        )
        .unwrap();
        let m = Mappings::load(&config("mytool"), Some(dir.path())).unwrap();
        assert_eq!(m.get("mytool").unwrap().name, "mytool");
    }

    #[test]
    fn a_broken_mail_expression_is_named_by_its_field() {
        let text = "[[teams]]\nid = \"t\"\nname = \"T\"\n[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\n\
             integration_key = \"0123456789abcdef0123456789abcdef\"\n\
             email = { local_part = \"db\", severity = \"subject |\" }\n";
        let c = Config::parse("t.toml", text).unwrap();
        let e = Mappings::load(&c, None).err().unwrap();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("services[0].email.severity: syntax error"),
            "{e:?}"
        );
        let text = text.replace("subject |", "subject");
        let c = Config::parse("t.toml", &text).unwrap();
        let m = Mappings::load(&c, None).unwrap();
        assert_eq!(m.email("s").name, "email");
        assert_eq!(m.email("other").name, "email");
    }

    #[test]
    fn a_broken_or_missing_mapping_is_named_with_its_line() {
        let e = Mappings::load(&config("nope"), None).err().unwrap();
        assert!(
            e[0].contains(
                "no mapping `nope`: not built in (azure-monitor, checkly, cloudwatch, datadog"
            ),
            "{e:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("integrations")).unwrap();
        std::fs::write(
            dir.path().join("integrations/broken.toml"),
            "title = \"payload.name\"\n\nseverity = \"payload.level ==\"\n",
        )
        .unwrap();
        let e = Mappings::load(&config("broken"), Some(dir.path()))
            .err()
            .unwrap();
        assert!(
            e[0].starts_with("template integrations/broken.toml, line 3: severity:"),
            "{e:?}"
        );
    }
}
