//! The four services Carillon speaks and the table of their implementations.

use crate::generated::chime::ChimeApi;
use crate::generated::wickr::WickrApi;
use crate::generated::workmail::WorkMailApi;
use crate::generated::workmailmessageflow::WorkMailMessageFlowApi;
use crate::generated::{chime, wickr, workmail, workmailmessageflow};
use crate::spec::ServiceSpec;
use std::sync::Arc;

/// A service, as named by the SigV4 credential scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceId {
    /// Amazon WorkMail (awsJson1.1, signing name `workmail`).
    WorkMail,
    /// Amazon Chime (restJson1, signing name `chime`).
    Chime,
    /// AWS Wickr Admin API (restJson1, signing name `wickr`).
    Wickr,
    /// Amazon WorkMail Message Flow (restJson1, signing name `workmailmessageflow`).
    WorkMailMessageFlow,
}

impl ServiceId {
    /// Every service.
    pub const ALL: [ServiceId; 4] = [
        ServiceId::WorkMail,
        ServiceId::Chime,
        ServiceId::Wickr,
        ServiceId::WorkMailMessageFlow,
    ];

    /// The service whose SigV4 signing name (credential-scope service) is `name`.
    pub fn from_signing_name(name: &str) -> Option<ServiceId> {
        ServiceId::ALL
            .into_iter()
            .find(|s| s.signing_name() == name)
    }

    /// SigV4 signing name, e.g. `workmail`.
    pub fn signing_name(self) -> &'static str {
        self.spec().signing_name
    }

    /// IAM action prefix (`workmail` in `workmail:CreateUser`); the signing name for all
    /// four services.
    pub fn action_prefix(self) -> &'static str {
        self.spec().signing_name
    }

    /// The generated description of the service's model.
    pub fn spec(self) -> &'static ServiceSpec {
        match self {
            ServiceId::WorkMail => &workmail::SERVICE,
            ServiceId::Chime => &chime::SERVICE,
            ServiceId::Wickr => &wickr::SERVICE,
            ServiceId::WorkMailMessageFlow => &workmailmessageflow::SERVICE,
        }
    }
}

/// The implementations the wire layer calls, one per service. The binary plugs in the
/// systems it has built; every other operation answers `NotImplementedException`.
#[derive(Clone)]
pub struct Services {
    /// WorkMail operations.
    pub workmail: Arc<dyn WorkMailApi>,
    /// Chime operations.
    pub chime: Arc<dyn ChimeApi>,
    /// Wickr operations.
    pub wickr: Arc<dyn WickrApi>,
    /// WorkMail Message Flow operations.
    pub messageflow: Arc<dyn WorkMailMessageFlowApi>,
}

/// An implementation of every service trait that keeps all the defaults.
struct NotImplemented;

impl WorkMailApi for NotImplemented {}
impl ChimeApi for NotImplemented {}
impl WickrApi for NotImplemented {}
impl WorkMailMessageFlowApi for NotImplemented {}

impl Services {
    /// Services where every operation answers `NotImplementedException` (HTTP 501).
    pub fn not_implemented() -> Self {
        let none = Arc::new(NotImplemented);
        Services {
            workmail: none.clone(),
            chime: none.clone(),
            wickr: none.clone(),
            messageflow: none,
        }
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Services")
    }
}
