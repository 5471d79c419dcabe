//! `(channel, platform id)` pairs as statement parameters: a channel array `$1` and a
//! platform-id array `$2`, which `unnest($1::uuid[], $2::text[])` turns back into pairs,
//! so a set of pairs is looked up pair by pair in a `(channel_id, external_id)` index
//! (two separate `= ANY` lists would probe every pairing of the two).

use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, Text, Uuid};

use super::ids::ChannelId;

/// The statement `sql` with `pairs` bound as `$1` (channels) and `$2` (platform ids);
/// further binds follow as `$3`…
pub fn with_channel_keys<'a>(
    sql: &str,
    pairs: impl IntoIterator<Item = (ChannelId, &'a str)>,
) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
    let (channels, external_ids): (Vec<ChannelId>, Vec<&str>) = pairs.into_iter().unzip();
    diesel::sql_query(sql)
        .into_boxed()
        .bind::<Array<Uuid>, _>(channels)
        .bind::<Array<Text>, _>(external_ids)
}
