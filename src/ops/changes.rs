//! Change events (deploys, config pushes) sent by CI/CD: kept on their
//! service, and shown on the service's next incidents.

use super::Core;
use crate::domain::incident::Change;
use crate::store::StoreError;

impl Core {
    /// Records `change` on service `service`, durably.
    pub async fn record_change(&self, service: &str, change: &Change) -> Result<(), StoreError> {
        self.store.add_change(service, change).await
    }
}
