// Package alert builds Elastic Common Schema (ECS 9.4) documents from the
// policy's verdicts: one [Document] per file change ([FromFileChange]) or
// server configuration inventory change ([FromItemChange]), and documents
// for the watch daemon's operational events ([RescanAfterOverflow],
// [WatchLimitReached], [CatchUpStarted], [OutboxDropped]).
//
// Every field is an ECS field of the ECS type, or lives under the custom
// namespace webfim.*; file.hash.blake3 follows the ECS convention for hash
// algorithms ECS does not list. The schema is documented in docs/ecs.md.
//
// The event.id of a finding is derived from what was found (rule, root,
// path, new content or item attributes), never from when: the same finding
// seen twice, or re-sent after a restart, has the same id, so Elasticsearch
// (which uses it as the document _id) stores it once.
package alert
