//! Lead conversion: a qualified lead becomes a customer (new, or one that already exists) and
//! optionally a deal, in one step. The rules of what carries over live here.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::customer::{Address, Customer, CustomerInput, CustomerKind, LifecycleStage};
use crate::deal::{Deal, DealInput, TITLE_MAX};
use crate::lead::{Lead, LeadInput, LeadStatus};
use crate::{CustomerId, PipelineId, StageId, UserId};

/// The body of `POST /v1/leads/{id}/convert`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"deal": {"title": "Shop fit-out", "amount_minor": 1250000, "currency": "EUR"}}))]
pub struct ConvertLead {
    /// Link the lead to this customer. Without it, a live customer with the lead's email is
    /// linked, and otherwise a new customer is made from the lead.
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    /// Also open a deal for the customer.
    #[serde(default)]
    pub deal: Option<ConvertDeal>,
}

/// The deal a conversion opens; absent fields take the lead's values or the defaults of
/// `POST /v1/deals` (default pipeline, its first open stage).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertDeal {
    /// Default: the customer's name.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub title: Option<String>,
    #[serde(default)]
    pub pipeline_id: Option<PipelineId>,
    #[serde(default)]
    pub stage_id: Option<StageId>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub amount_minor: i64,
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z]{3}$", example = "EUR")]
    pub currency: Option<String>,
    #[serde(default)]
    pub expected_close_date: Option<NaiveDate>,
    /// Default: the lead's owner.
    #[serde(default)]
    pub owner_id: Option<UserId>,
}

/// What a conversion made or linked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Conversion {
    pub lead: Lead,
    pub customer: Customer,
    /// `false` when the lead was linked to a customer that already existed.
    pub customer_created: bool,
    pub deal: Option<Deal>,
}

/// Why a lead cannot be converted, as `(code, detail)`; `None` when it can.
pub fn refusal(status: LeadStatus) -> Option<(&'static str, &'static str)> {
    match status {
        LeadStatus::Converted => Some(("already_converted", "the lead was converted already")),
        LeadStatus::Disqualified => {
            Some(("lead_disqualified", "the lead is disqualified; requalify it before converting"))
        }
        LeadStatus::New | LeadStatus::Contacted | LeadStatus::Qualified => None,
    }
}

/// The customer a lead becomes: a person when the lead names one (the company stays as text),
/// else a company. A lead converted with a deal is still being sold to (`lead` stage); without
/// one it is a `customer`.
pub fn customer_from(lead: &LeadInput, with_deal: bool) -> CustomerInput {
    let person = lead.first_name.is_some() || lead.last_name.is_some();
    let kind = if person { CustomerKind::Person } else { CustomerKind::Company };
    let company_only = |value: &Option<String>| if person { None } else { value.clone() };
    let address = Address { city: lead.city.clone(), country: lead.country.clone(), ..Address::default() };
    CustomerInput {
        kind,
        first_name: lead.first_name.clone(),
        last_name: lead.last_name.clone(),
        company_name: lead.company_name.clone(),
        email: lead.email.clone(),
        phone: lead.phone.clone(),
        address: (address != Address::default()).then_some(address),
        social: Default::default(),
        lifecycle_stage: if with_deal { LifecycleStage::Lead } else { LifecycleStage::Customer },
        owner_id: lead.owner_id,
        tags: lead.tags.clone(),
        important_dates: Vec::new(),
        custom_fields: Default::default(),
        consents: Vec::new(),
        industry: company_only(&lead.industry),
        vat_number: None,
        registration_number: None,
        website: company_only(&lead.website),
        employee_count: None,
        company_id: None,
    }
}

impl ConvertDeal {
    /// The deal input for `customer`, defaults filled from the lead.
    pub fn into_input(self, customer: CustomerId, customer_name: &str, lead: &LeadInput) -> DealInput {
        DealInput {
            // A name may be longer than a title may be (a person's two names, an email).
            title: self.title.unwrap_or_else(|| customer_name.chars().take(TITLE_MAX).collect()),
            customer_id: customer,
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_id,
            amount_minor: self.amount_minor,
            currency: self.currency,
            expected_close_date: self.expected_close_date,
            owner_id: self.owner_id.or(lead.owner_id),
            lost_reason: None,
            tags: Vec::new(),
            custom_fields: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::patch::decode;

    fn lead(value: serde_json::Value) -> LeadInput {
        decode(value).unwrap_or_else(|e| panic!("decodes: {e}"))
    }

    #[test]
    fn a_named_lead_becomes_a_person_and_keeps_its_company_as_text() {
        let input = lead(json!({"source": "web_form", "first_name": "Olena", "company_name": "Acme",
                                "industry": "retail", "website": "https://acme.example", "city": "Kyiv",
                                "country": "UA", "email": "olena@example.com", "tags": ["expo"]}));
        let customer = customer_from(&input, false);
        assert_eq!(customer.kind, CustomerKind::Person);
        assert_eq!(customer.company_name.as_deref(), Some("Acme"));
        assert_eq!((customer.industry, customer.website), (None, None), "company-only fields stay on the lead");
        assert_eq!(customer.address.and_then(|a| a.country).as_deref(), Some("UA"));
        assert_eq!(customer.lifecycle_stage, LifecycleStage::Customer);
        assert_eq!(customer.tags, ["expo"]);
        assert!(customer_from(&input, true).lifecycle_stage == LifecycleStage::Lead, "a deal is still open");
    }

    #[test]
    fn a_company_lead_becomes_a_company() {
        let input = lead(json!({"source": "referral", "company_name": "Acme", "industry": "retail"}));
        let customer = customer_from(&input, false);
        assert_eq!(customer.kind, CustomerKind::Company);
        assert_eq!(customer.industry.as_deref(), Some("retail"));
        assert!(customer.validate().is_ok());
    }

    /// A person's two names may be 401 characters; the title they default to stops at 200.
    #[test]
    fn a_long_name_still_makes_a_valid_title() {
        let input = lead(json!({"first_name": "O".repeat(200), "last_name": "K".repeat(200)}));
        let customer = CustomerId::generate();
        let name = format!("{} {}", "O".repeat(200), "K".repeat(200));
        let deal = ConvertDeal::default().into_input(customer, &name, &input).validate();
        assert_eq!(deal.map(|d| d.title.chars().count()).ok(), Some(TITLE_MAX));
    }

    #[test]
    fn only_open_leads_convert() {
        assert_eq!(refusal(LeadStatus::Converted).map(|r| r.0), Some("already_converted"));
        assert_eq!(refusal(LeadStatus::Disqualified).map(|r| r.0), Some("lead_disqualified"));
        for status in [LeadStatus::New, LeadStatus::Contacted, LeadStatus::Qualified] {
            assert_eq!(refusal(status), None);
        }
    }
}
