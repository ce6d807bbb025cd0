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
// A [Finding] is a change and the policy's verdict on it; its event.id is
// its [FindingID], derived from what was found (rule, root, path, content
// or item attributes), never from when or from ctime, inode or mtime: the
// same finding from "webfim diff --format ecs" or from the watch daemon,
// seen twice or re-sent after a restart, has the same id, so Elasticsearch
// (which uses it as the document _id) stores it once. [Document.Encode] is
// the one byte form of a document.
package alert
