// Prints graphql-js's standard introspection query with every option set: the text
// checked in as tests/fixtures/graphql/introspection.graphql (the Rust suite compares).
import { getIntrospectionQuery } from 'graphql';

process.stdout.write(
  getIntrospectionQuery({
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
    oneOf: true,
  }),
);
