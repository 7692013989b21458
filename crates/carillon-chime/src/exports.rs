//! Client-side exports of the 2025 transition guide and the personal contacts they read.
//! Spec: chime-ko.md §2.0.6, §2.0.7, §3.10.
//!
//! - The room member list: a room administrator's CSV `name,email,role` of every member
//!   (users: display name or else email; bots: their name and email; incoming webhooks:
//!   their name, no email). Other members get `ForbiddenException`, non-members and unknown
//!   rooms `NotFoundException`.
//! - Personal contacts: up to [`MAX_CONTACTS`] (100) Chime users a user adds by email; the
//!   CSV `name,email,phone_number` (the contact's Business Calling number, when assigned).
//!
//! The guide gives the columns but not the header spelling; these headers are Carillon's.

use carillon_core::time::now_millis;
use carillon_store::chime::reports::{self as store, ContactAdded, ContactRow};

use crate::errors::{error, Result};
use crate::reports::csv_field;
use crate::sessions::SessionUser;
use crate::Chime;

/// Most personal contacts a user keeps.
pub const MAX_CONTACTS: i64 = 100;
/// Header of the room member-list CSV.
pub const MEMBERS_HEADER: &str = "name,email,role";
/// Header of the personal contacts CSV.
pub const CONTACTS_HEADER: &str = "name,email,phone_number";

const ADMINISTRATOR: &str = "Administrator";

fn csv(header: &str, rows: impl IntoIterator<Item = [String; 3]>) -> String {
    let mut out = format!("{header}\n");
    for row in rows {
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

/// The member list of room `room_id` for `caller`: `(room name, CSV)`.
///
/// Errors: `NotFoundException` (no such room, or the caller is not a member);
/// `ForbiddenException` when the caller is a member but not an administrator.
pub async fn room_members_csv(
    chime: &Chime,
    caller: &SessionUser,
    room_id: &str,
) -> Result<(String, String)> {
    let not_found = || error("NotFoundException", format!("Room {room_id} was not found"));
    let (name, members) = store::room_members(&chime.store, room_id)
        .await?
        .ok_or_else(not_found)?;
    let me = members
        .iter()
        .find(|m| m.member_id == caller.user_id)
        .ok_or_else(not_found)?;
    if me.role != ADMINISTRATOR {
        return Err(error(
            "ForbiddenException",
            "Only room administrators can export the member list",
        ));
    }
    let rows = members.into_iter().map(|m| {
        let email = m.email.unwrap_or_default();
        let name = m
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| email.clone());
        [name, email, m.role]
    });
    Ok((name, csv(MEMBERS_HEADER, rows)))
}

/// A personal contact as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactView {
    /// The contact's user ID.
    pub user_id: String,
    /// Display name, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Primary email.
    pub email: String,
    /// Business Calling number, if assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

fn view(row: ContactRow) -> ContactView {
    ContactView {
        user_id: row.user_id,
        display_name: row.display_name,
        email: row.email,
        phone_number: row.phone_number,
    }
}

/// `caller`'s personal contacts, by email.
///
/// Errors: store failures.
pub async fn contacts(chime: &Chime, caller: &SessionUser) -> Result<Vec<ContactView>> {
    Ok(store::contacts(&chime.store, &caller.user_id)
        .await?
        .into_iter()
        .map(view)
        .collect())
}

/// Adds the Chime user with primary email `email` to `caller`'s contacts (adding one twice
/// changes nothing); returns the contacts.
///
/// Errors: `BadRequestException` naming `Email` (empty, or the caller's own);
/// `NotFoundException` (no such user); `ResourceLimitExceededException` at 100 contacts.
pub async fn add_contact(
    chime: &Chime,
    caller: &SessionUser,
    email: &str,
) -> Result<Vec<ContactView>> {
    if email.trim().is_empty() {
        return Err(error("BadRequestException", "Email must not be empty"));
    }
    let contact = store::user_id_by_email(&chime.store, email)
        .await?
        .ok_or_else(|| {
            error(
                "NotFoundException",
                format!("No Chime user has the email {}", email.trim()),
            )
        })?;
    if contact == caller.user_id {
        return Err(error("BadRequestException", "Email must not be your own"));
    }
    let added = store::add_contact(
        &chime.store,
        &caller.user_id,
        &contact,
        now_millis(),
        MAX_CONTACTS,
    )
    .await?;
    if added == ContactAdded::Full {
        return Err(error(
            "ResourceLimitExceededException",
            format!("A personal contact list holds at most {MAX_CONTACTS} contacts"),
        ));
    }
    contacts(chime, caller).await
}

/// Removes user `contact_user_id` from `caller`'s contacts.
///
/// Errors: `NotFoundException` when it is not one of them.
pub async fn remove_contact(
    chime: &Chime,
    caller: &SessionUser,
    contact_user_id: &str,
) -> Result<()> {
    if !store::remove_contact(&chime.store, &caller.user_id, contact_user_id).await? {
        return Err(error(
            "NotFoundException",
            format!("{contact_user_id} is not one of your contacts"),
        ));
    }
    Ok(())
}

/// `caller`'s personal contacts as CSV `name,email,phone_number`.
///
/// Errors: store failures.
pub async fn contacts_csv(chime: &Chime, caller: &SessionUser) -> Result<String> {
    let rows = contacts(chime, caller).await?.into_iter().map(|c| {
        let name = c
            .display_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| c.email.clone());
        [name, c.email, c.phone_number.unwrap_or_default()]
    });
    Ok(csv(CONTACTS_HEADER, rows))
}
