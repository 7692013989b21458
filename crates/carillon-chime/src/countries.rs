//! The phone-number country table as data: which countries Carillon serves numbers of, for
//! which product types and number types, and what porting a number of each needs.
//! Spec: chime-ja.md §4.2 (the table), chime-zh.md §4.1 (Business Calling and Voice
//! Connector: US numbers; SIP media application dial-in: the only product for international
//! numbers), §4.3, §4.4.
//!
//! The guide's country-specific prefix types (national, universal access, outbound-dialing)
//! are `Local` numbers to the API, whose `PhoneNumberType` knows only `Local` and `TollFree`.

/// Model `PhoneNumberProductType` values.
pub const BUSINESS_CALLING: &str = "BusinessCalling";
/// See [`BUSINESS_CALLING`].
pub const VOICE_CONNECTOR: &str = "VoiceConnector";
/// See [`BUSINESS_CALLING`].
pub const SMA_DIAL_IN: &str = "SipMediaApplicationDialIn";
/// Every product type.
pub const PRODUCT_TYPES: [&str; 3] = [BUSINESS_CALLING, VOICE_CONNECTOR, SMA_DIAL_IN];
/// Model `PhoneNumberType` values.
pub const LOCAL: &str = "Local";
/// See [`LOCAL`].
pub const TOLL_FREE: &str = "TollFree";
/// Every number type.
pub const NUMBER_TYPES: [&str; 2] = [LOCAL, TOLL_FREE];

const BOTH: &[&str] = &[LOCAL, TOLL_FREE];
const SMA: &[&str] = &[SMA_DIAL_IN];
const INVOICE_LOA: &[&str] = &["FinalInvoice", "LetterOfAuthorization"];

/// One country of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166 alpha-2.
    pub code: &'static str,
    /// English name.
    pub name: &'static str,
    /// E.164 country calling code with `+` (`+1` for the NANP countries).
    pub calling_code: &'static str,
    /// Product types its numbers can have.
    pub products: &'static [&'static str],
    /// Number types served.
    pub number_types: &'static [&'static str],
    /// Porting documents per number type (`None`: the guide lists no porting for that
    /// type, so a port-in is refused).
    pub porting_local: Option<&'static [&'static str]>,
    /// See [`Country::porting_local`].
    pub porting_toll_free: Option<&'static [&'static str]>,
}

impl Country {
    /// Whether `product` numbers of type `number_type` exist in this country.
    pub fn supports(&self, product: &str, number_type: &str) -> bool {
        self.products.contains(&product) && self.number_types.contains(&number_type)
    }

    /// The documents a port-in of `number_type` numbers needs, `None` when porting them is
    /// not supported.
    pub fn porting_documents(&self, number_type: &str) -> Option<&'static [&'static str]> {
        if !self.number_types.contains(&number_type) {
            return None;
        }
        if number_type == TOLL_FREE {
            self.porting_toll_free
        } else {
            self.porting_local
        }
    }
}

const fn sma(
    code: &'static str,
    name: &'static str,
    calling_code: &'static str,
    number_types: &'static [&'static str],
    porting_local: Option<&'static [&'static str]>,
    porting_toll_free: Option<&'static [&'static str]>,
) -> Country {
    Country {
        code,
        name,
        calling_code,
        products: SMA,
        number_types,
        porting_local,
        porting_toll_free,
    }
}

/// The table (chime-ja.md §4.2), by country code.
pub const COUNTRIES: [Country; 16] = [
    sma(
        "AT",
        "Austria",
        "+43",
        BOTH,
        Some(INVOICE_LOA),
        Some(INVOICE_LOA),
    ),
    sma(
        "AU",
        "Australia",
        "+61",
        BOTH,
        Some(INVOICE_LOA),
        Some(INVOICE_LOA),
    ),
    sma(
        "CA",
        "Canada",
        "+1",
        BOTH,
        Some(INVOICE_LOA),
        Some(INVOICE_LOA),
    ),
    sma(
        "CH",
        "Switzerland",
        "+41",
        BOTH,
        Some(&["FinalInvoice", "LetterOfAuthorization", "BusinessAddress"]),
        Some(&[
            "FinalInvoice",
            "LetterOfAuthorization",
            "BusinessAddress",
            "RegulatorCertificate",
        ]),
    ),
    sma(
        "DE",
        "Germany",
        "+49",
        BOTH,
        Some(&[
            "FinalInvoice",
            "LetterOfAuthorization",
            "BusinessAddress",
            "BusinessRegistration",
            "RepresentativeId",
        ]),
        Some(&[
            "FinalInvoice",
            "LetterOfAuthorization",
            "RegulatorCertificate",
        ]),
    ),
    sma(
        "DK",
        "Denmark",
        "+45",
        BOTH,
        Some(INVOICE_LOA),
        Some(INVOICE_LOA),
    ),
    sma(
        "FI",
        "Finland",
        "+358",
        BOTH,
        Some(INVOICE_LOA),
        Some(INVOICE_LOA),
    ),
    sma(
        "GB",
        "United Kingdom",
        "+44",
        BOTH,
        Some(INVOICE_LOA),
        Some(INVOICE_LOA),
    ),
    sma(
        "IE",
        "Ireland",
        "+353",
        BOTH,
        Some(INVOICE_LOA),
        Some(INVOICE_LOA),
    ),
    sma(
        "IT",
        "Italy",
        "+39",
        BOTH,
        Some(&[
            "FinalInvoice",
            "LetterOfAuthorization",
            "RepresentativeId",
            "BusinessRegistrationOrProofOfAddress",
        ]),
        Some(INVOICE_LOA),
    ),
    sma("KR", "South Korea", "+82", &[TOLL_FREE], None, None),
    sma("NG", "Nigeria", "+234", &[LOCAL], None, None),
    sma("NZ", "New Zealand", "+64", BOTH, None, Some(INVOICE_LOA)),
    Country {
        code: "PR",
        name: "Puerto Rico",
        calling_code: "+1",
        products: &[BUSINESS_CALLING, VOICE_CONNECTOR],
        number_types: BOTH,
        porting_local: None,
        porting_toll_free: None,
    },
    sma(
        "SE",
        "Sweden",
        "+46",
        BOTH,
        Some(INVOICE_LOA),
        Some(INVOICE_LOA),
    ),
    Country {
        code: "US",
        name: "United States",
        calling_code: "+1",
        products: &[BUSINESS_CALLING, VOICE_CONNECTOR, SMA_DIAL_IN],
        number_types: BOTH,
        porting_local: Some(&["LetterOfAuthorization"]),
        porting_toll_free: Some(&["LetterOfAuthorization"]),
    },
];

/// The country with ISO code `code`.
pub fn country(code: &str) -> Option<&'static Country> {
    COUNTRIES.iter().find(|c| c.code == code)
}

/// North American toll-free area codes (the model's `TollFreePrefix`).
pub const NANP_TOLL_FREE: [&str; 7] = ["800", "833", "844", "855", "866", "877", "888"];

/// Checks that `e164` (with `+`) is a number of `country` of type `number_type`: it starts
/// with the country calling code, and in the NANP (`+1`) a toll-free number has a toll-free
/// area code and a local one does not.
///
/// Errors: why not, in a sentence.
pub fn check_number(e164: &str, country: &Country, number_type: &str) -> Result<(), String> {
    let Some(national) = e164.strip_prefix(country.calling_code) else {
        return Err(format!(
            "{e164} does not start with {}'s calling code {}",
            country.name, country.calling_code
        ));
    };
    if !country.number_types.contains(&number_type) {
        return Err(format!(
            "{} numbers of type {number_type} are not supported",
            country.name
        ));
    }
    if country.calling_code == "+1" {
        if national.len() != 10 {
            return Err(format!("{e164} is not a 10-digit North American number"));
        }
        let toll_free = NANP_TOLL_FREE.contains(&&national[..3]);
        if toll_free != (number_type == TOLL_FREE) {
            return Err(format!(
                "{e164} has area code {}, which is {}a toll-free prefix",
                &national[..3],
                if toll_free { "" } else { "not " }
            ));
        }
    }
    Ok(())
}

/// `s` as an E.164 number with its `+` (the model's `^\+?[1-9]\d{1,14}$`), `None` when it
/// is not one.
pub fn normalize_e164(s: &str) -> Option<String> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let valid = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then(|| format!("+{digits}"))
}
