//! Generic webhooks (`POST /integrations/webhook/{key}`): any JSON payload,
//! mapped to an alert by minijinja expressions in `templates/integrations/`.
