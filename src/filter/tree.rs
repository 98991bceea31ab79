//! Field paths (docs/reference.md#configuration, `[route.fields]`) parsed and merged into one tree.
//!
//! A path is keys separated by `.`; `key[]` steps into every element of the array at
//! `key`, and a leading `[]` into every element of a top-level array. Paths that share
//! a prefix share nodes, so a single walk of a document serves every rule. Each node
//! also records which scopes guard anything at or below it (`guards`), so a walk can
//! skip subtrees where the token is denied nothing.

use super::FieldPathError;

/// Index into `FieldRules::scopes` (distinct scopes, first-seen order).
pub(super) type ScopeId = usize;

/// One position in a document: an object's listed keys and/or an array's elements.
#[derive(Debug, Clone, Default)]
pub(super) struct Node {
    pub(super) fields: Vec<Field>,
    /// `[]`: applies to every element when the value here is an array.
    pub(super) each: Option<Box<Node>>,
    /// Every scope guarding a field at or below this node, sorted and deduplicated.
    pub(super) guards: Vec<ScopeId>,
}

/// An object key named by at least one path.
#[derive(Debug, Clone)]
pub(super) struct Field {
    pub(super) key: Box<str>,
    /// Rules that end here: the field is removed when any of these scopes is denied.
    /// Usually one; several only when the same path is given twice.
    pub(super) removed_without: Vec<ScopeId>,
    /// Rules that continue below this key.
    pub(super) next: Node,
}

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step<'a> {
    Key(&'a str),
    Each,
}

/// Per-request answer of `has_scope` for each distinct scope.
#[derive(Debug)]
pub(super) struct Denied(pub(super) Vec<bool>);

// === impl Denied ===

impl Denied {
    /// An id outside the table counts as denied, so a bug here removes rather than leaks.
    pub(super) fn is_denied(&self, id: ScopeId) -> bool {
        self.0.get(id).copied().unwrap_or(true)
    }

    pub(super) fn any(&self, ids: &[ScopeId]) -> bool {
        ids.iter().any(|&id| self.is_denied(id))
    }
}

// === impl Node ===

impl Node {
    /// Adds one parsed path; `steps` ends in a key (checked by `parse`).
    pub(super) fn insert(&mut self, steps: &[Step<'_>], scope: ScopeId) {
        let mut node = self;
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Each => node = node.each.get_or_insert_with(Box::default),
                Step::Key(key) => {
                    let at = match node.fields.iter().position(|f| &*f.key == *key) {
                        Some(at) => at,
                        None => {
                            node.fields.push(Field {
                                key: (*key).into(),
                                removed_without: Vec::new(),
                                next: Node::default(),
                            });
                            node.fields.len() - 1
                        }
                    };
                    let field = &mut node.fields[at];
                    if i + 1 == steps.len() {
                        field.removed_without.push(scope);
                    }
                    node = &mut field.next;
                }
            }
        }
    }

    /// Fills in `guards` bottom-up once every path is inserted.
    pub(super) fn seal(&mut self) -> &[ScopeId] {
        let mut guards = Vec::new();
        for field in &mut self.fields {
            guards.extend_from_slice(&field.removed_without);
            guards.extend_from_slice(field.next.seal());
        }
        if let Some(each) = &mut self.each {
            guards.extend_from_slice(each.seal());
        }
        guards.sort_unstable();
        guards.dedup();
        self.guards = guards;
        &self.guards
    }

    /// Linear scan: a node holds a handful of keys, fewer than a hash would pay off for.
    pub(super) fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| &*f.key == key)
    }
}

/// `node` if the token is denied something at or below it; `None` lets the walk skip it.
pub(super) fn live<'n>(node: Option<&'n Node>, denied: &Denied) -> Option<&'n Node> {
    node.filter(|n| denied.any(&n.guards))
}

// === impl Field ===

impl Field {
    pub(super) fn is_removed(&self, denied: &Denied) -> bool {
        denied.any(&self.removed_without)
    }
}

/// Parses `a.b[].c`, `[].price`, `rows[][].x`; the result always ends in a key.
pub(super) fn parse(path: &str) -> Result<Vec<Step<'_>>, FieldPathError> {
    if path.is_empty() {
        return Err(FieldPathError::Empty);
    }
    let mut steps = Vec::new();
    for (i, part) in path.split('.').enumerate() {
        if part.is_empty() {
            return Err(FieldPathError::EmptyKey);
        }
        let mut key = part;
        let mut arrays = 0;
        while let Some(rest) = key.strip_suffix("[]") {
            key = rest;
            arrays += 1;
        }
        if key.contains(['[', ']']) {
            return Err(FieldPathError::UnexpectedBracket);
        }
        if key.is_empty() {
            // Only the first part may be a bare `[]` (a top-level array).
            if i > 0 {
                return Err(FieldPathError::MisplacedArray);
            }
        } else {
            steps.push(Step::Key(key));
        }
        steps.extend(std::iter::repeat_n(Step::Each, arrays));
    }
    match steps.last() {
        Some(Step::Key(_)) => Ok(steps),
        _ => Err(FieldPathError::EndsInArray),
    }
}
