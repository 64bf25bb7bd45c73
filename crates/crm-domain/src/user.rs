//! Users of a workspace: people who sign in with a password and act under a role.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::Role;
use crate::values::parse_email;
use crate::{UserId, ValidationErrors, WorkspaceId};

pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 128;

/// A user as the API returns it. The password hash never leaves the store.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub workspace_id: WorkspaceId,
    #[schema(example = "olena@example.com")]
    pub email: String,
    #[schema(example = "Olena Kovalenko")]
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    #[schema(example = 1)]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /v1/users`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "taras@example.com", "name": "Taras Shevchuk", "role": "sales", "password": "correct horse battery"}))]
pub struct NewUser {
    #[schema(max_length = 254)]
    pub email: String,
    #[schema(max_length = 200)]
    pub name: String,
    pub role: Role,
    /// 10 to 128 characters.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
}

/// The body of `PATCH /v1/users/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "manager"}))]
pub struct UserPatch {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    pub role: Option<Role>,
    /// `false` signs the user out everywhere and blocks sign-in.
    pub active: Option<bool>,
    #[schema(min_length = 10, max_length = 128)]
    pub password: Option<String>,
}

pub fn validate_password(e: &mut ValidationErrors, field: &str, password: &str) {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        e.add(field, "too_short", format!("must be at least {PASSWORD_MIN} characters"));
    } else if len > PASSWORD_MAX {
        e.add(field, "too_long", format!("must be at most {PASSWORD_MAX} characters"));
    }
}

impl NewUser {
    pub fn validate(self) -> Result<NewUser, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let email = match parse_email(&self.email) {
            // `parse_email` trims, which would drop a vertical tab or U+0085 unseen.
            Ok(email) if e.check_chars("email", &self.email) => email,
            Ok(_) => String::new(),
            Err(invalid) => {
                e.add("email", invalid.code, invalid.message);
                String::new()
            }
        };
        let name = e.text("name", Some(self.name), 200).unwrap_or_default();
        if name.is_empty() {
            e.add("name", "required", "must not be blank");
        }
        validate_password(&mut e, "password", &self.password);
        e.into_result(NewUser { email, name, ..self })
    }
}

impl UserPatch {
    pub fn validate(self) -> Result<UserPatch, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = match self.name {
            Some(name) => match e.text("name", Some(name), 200) {
                Some(name) => Some(name),
                None => {
                    e.add("name", "required", "must not be blank");
                    None
                }
            },
            None => None,
        };
        if let Some(password) = &self.password {
            validate_password(&mut e, "password", password);
        }
        e.into_result(UserPatch { name, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_user(email: &str, name: &str, password: &str) -> NewUser {
        NewUser { email: email.into(), name: name.into(), role: Role::Sales, password: password.into() }
    }

    #[test]
    fn new_user_is_normalised() {
        let user = new_user(" Taras@Example.COM ", " Taras ", "correct horse battery").validate();
        let user = user.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((user.email.as_str(), user.name.as_str()), ("taras@example.com", "Taras"));
    }

    #[test]
    fn bad_users_report_each_field() {
        let err = new_user("nope", " ", "short").validate().err().unwrap_or_default();
        let fields: Vec<_> = err.0.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(fields, [("email", "invalid_format"), ("name", "required"), ("password", "too_short")]);
    }

    #[test]
    fn password_length_counts_characters() {
        let mut e = ValidationErrors::default();
        validate_password(&mut e, "password", "пароль-дуже-довгий");
        assert!(e.is_empty());
        validate_password(&mut e, "password", &"x".repeat(129));
        assert_eq!(e.0[0].code, "too_long");
    }

    #[test]
    fn patch_rejects_blank_name() {
        let patch = UserPatch { name: Some("  ".into()), ..UserPatch::default() };
        assert!(patch.validate().is_err());
    }
}
