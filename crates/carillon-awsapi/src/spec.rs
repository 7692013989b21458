//! Static descriptions of services and operations, emitted by `cargo xtask codegen` from the
//! botocore models in `models/` and read by the protocol layer.

/// Wire protocol of a service (botocore `metadata.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `json` 1.1: `POST /`, operation named by `X-Amz-Target: <targetPrefix>.<Operation>`.
    AwsJson11,
    /// `rest-json`: operation named by HTTP method and `requestUri`, members bound to the URI,
    /// query string, headers, status code or payload.
    RestJson1,
}

/// One service model.
#[derive(Debug)]
pub struct ServiceSpec {
    /// botocore `serviceId`, e.g. `WorkMail`.
    pub service_id: &'static str,
    /// SigV4 signing name and IAM action prefix, e.g. `workmail`.
    pub signing_name: &'static str,
    /// Wire protocol.
    pub protocol: Protocol,
    /// awsJson1.1 `X-Amz-Target` prefix (empty for restJson1).
    pub target_prefix: &'static str,
    /// Error code answered for model-constraint violations (the model's own validation error
    /// shape where it has one; see the xtask service table for the choice per service).
    pub validation_error: &'static str,
    /// Every operation of the model, sorted by name.
    pub operations: &'static [OperationSpec],
    /// Every error shape of the model with its HTTP status, sorted by code.
    pub errors: &'static [ErrorSpec],
}

impl ServiceSpec {
    /// The operation named `name`, if the model has it.
    pub fn operation(&self, name: &str) -> Option<&'static OperationSpec> {
        self.operations
            .binary_search_by(|op| op.name.cmp(name))
            .ok()
            .map(|i| &self.operations[i])
    }

    /// The modelled error shape `code`, if the model has it.
    pub fn error(&self, code: &str) -> Option<&'static ErrorSpec> {
        self.errors
            .binary_search_by(|e| e.code.cmp(code))
            .ok()
            .map(|i| &self.errors[i])
    }
}

/// One operation of a model.
#[derive(Debug)]
pub struct OperationSpec {
    /// Operation name, e.g. `CreateUser`.
    pub name: &'static str,
    /// IAM action, `<signing name>:<Operation>`, e.g. `workmail:CreateUser`.
    pub iam_action: &'static str,
    /// HTTP method (`POST` for every awsJson1.1 operation).
    pub method: &'static str,
    /// botocore `requestUri`: a path template with `{Label}` / `{Label+}` and possibly a
    /// literal query (`?operation=create`).
    pub request_uri: &'static str,
    /// HTTP status of a successful response (model `responseCode`, default 200).
    pub response_code: u16,
    /// Input shape name (`Unit` when the model has none).
    pub input: &'static str,
    /// Output shape name (`Unit` when the model has none).
    pub output: &'static str,
    /// Error shapes the model lists for this operation.
    pub errors: &'static [&'static str],
    /// HTTP bindings of the input members (restJson1).
    pub input_bindings: &'static HttpBindings,
    /// HTTP bindings of the output members (restJson1).
    pub output_bindings: &'static HttpBindings,
    /// True when the model marks the operation `readonly`.
    pub readonly: bool,
}

/// A modelled error shape.
#[derive(Debug)]
pub struct ErrorSpec {
    /// Shape name, the wire error code.
    pub code: &'static str,
    /// HTTP status (`error.httpStatusCode`; 500 for faults, 400 otherwise).
    pub status: u16,
}

/// Members of a structure bound outside the JSON body.
#[derive(Debug)]
pub struct HttpBindings {
    /// Members bound to the URI, query string, headers or status code.
    pub members: &'static [MemberBinding],
    /// The member that is the whole body, if any.
    pub payload: Option<Payload>,
}

impl HttpBindings {
    /// A structure with every member in the JSON body.
    pub const NONE: HttpBindings = HttpBindings {
        members: &[],
        payload: None,
    };
}

/// A member bound to a part of the HTTP message.
#[derive(Debug)]
pub struct MemberBinding {
    /// Wire (JSON) member name.
    pub member: &'static str,
    /// Where it lives.
    pub location: Location,
    /// Label, query key or header name (`locationName`).
    pub location_name: &'static str,
    /// Scalar type used to convert the text.
    pub kind: Kind,
}

/// HTTP location of a bound member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// Path label `{name}` or greedy `{name+}`.
    Uri,
    /// Query parameter (lists: repeated keys).
    Querystring,
    /// HTTP header.
    Header,
    /// HTTP status code of the response.
    StatusCode,
}

/// Type of a bound member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    String,
    /// 32- or 64-bit integer.
    Integer,
    /// Floating point.
    Double,
    /// `true` / `false`.
    Boolean,
    /// Instant in the given format.
    Timestamp(TimestampFormat),
    /// List of the given scalar kind (query: repeated keys; header: comma separated).
    List(Scalar),
}

/// Element type of a bound list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// Text.
    String,
    /// Integer.
    Integer,
    /// Floating point.
    Double,
    /// Boolean.
    Boolean,
}

/// Model `timestampFormat`; `Default` means the location's default (query/URI: ISO 8601,
/// header: HTTP date, body: epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// No format in the model.
    Default,
    /// `iso8601`.
    Iso8601,
    /// `unixTimestamp`: epoch seconds.
    EpochSeconds,
    /// `rfc822`: HTTP date.
    HttpDate,
}

/// The member bound to the whole HTTP body.
#[derive(Debug, Clone, Copy)]
pub struct Payload {
    /// Wire member name.
    pub member: &'static str,
    /// True for a blob payload (raw bytes, possibly streaming); false for a structure
    /// payload (JSON document).
    pub blob: bool,
}
