//! Domain operations shared by GraphQL resolvers and background workers. Each runs in
//! one transaction and appends its live events to the outbox in that transaction.

pub mod arrivals;
pub mod assignment;
pub mod canned;
pub mod channels;
pub mod customers;
pub mod facts;
pub mod ingest;
pub mod labels;
pub mod members;
pub mod mentions;
pub mod normalized;
pub mod notifications;
pub mod outbox;
pub mod profiles;
pub mod replies;
pub mod reply_options;
pub mod status;
pub mod teams;
pub mod templates;
pub mod tickets;
pub mod updates;
