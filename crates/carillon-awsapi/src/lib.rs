//! The AWS wire protocols: generated shapes and operation tables, request binding and
//! validation from model constraints, error serialization. Knows nothing of mail or chat.
