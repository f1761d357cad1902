//! A Confluent-compatible schema registry over HTTP: Confluent Schema
//! Registry, Apicurio's `ccompat` API, Karapace, Redpanda.

use std::time::Duration;

use serde::Deserialize;
use smackql_kafka::SchemaRegistry;

/// How long one registry request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The registry's content type.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A schema registry at a base URL, such as `http://127.0.0.1:8081`.
#[derive(Debug)]
pub struct HttpSchemaRegistry {
    base: String,
    agent: ureq::Agent,
}

#[derive(Deserialize)]
struct SchemaById {
    schema: String,
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

impl HttpSchemaRegistry {
    /// The registry at `base`; nothing is contacted until it is used.
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// The body of a response (`None` for 404 Not Found), or why the
    /// request failed.
    fn read(
        &self,
        what: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Option<String>, String> {
        let mut response = response.map_err(|e| format!("{what}: {e}"))?;
        let status = response.status();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{what}: {e}"))?;
        if status == ureq::http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("{what}: HTTP {status}: {}", body.trim()));
        }
        Ok(Some(body))
    }
}

impl SchemaRegistry for HttpSchemaRegistry {
    fn schema(&self, id: u32) -> Result<Option<String>, String> {
        let url = format!("{}/schemas/ids/{id}", self.base);
        let Some(body) = self.read(
            &format!("GET {url}"),
            self.agent.get(&url).header("Accept", CONTENT_TYPE).call(),
        )?
        else {
            return Ok(None);
        };
        serde_json::from_str::<SchemaById>(&body)
            .map(|found| Some(found.schema))
            .map_err(|e| format!("GET {url}: unexpected answer: {e}"))
    }

    fn register(&self, subject: &str, schema: &str) -> Result<u32, String> {
        let url = format!("{}/subjects/{subject}/versions", self.base);
        let request = serde_json::json!({ "schema": schema }).to_string();
        let body = self
            .read(
                &format!("POST {url}"),
                self.agent
                    .post(&url)
                    .header("Content-Type", CONTENT_TYPE)
                    .header("Accept", CONTENT_TYPE)
                    .send(request.as_str()),
            )?
            .ok_or_else(|| format!("POST {url}: HTTP 404 Not Found"))?;
        serde_json::from_str::<Registered>(&body)
            .map(|found| found.id)
            .map_err(|e| format!("POST {url}: unexpected answer: {e}"))
    }
}
