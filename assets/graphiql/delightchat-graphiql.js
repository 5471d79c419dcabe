// DelightChat's GraphiQL start-up (served from our own origin; the page has no inline
// script). Queries and mutations go over HTTP POST; subscriptions over our WebSocket
// with graphql-ws, whose `connection_init` payload carries the headers typed in
// GraphiQL's Headers tab (so `{"Authorization": "Bearer ..."}` authenticates both).
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint');
  var wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + endpoint;

  // One socket per distinct set of headers; a changed token opens a new socket.
  var socket = null;
  var socketHeaders = null;
  function wsClient(headers) {
    var key = JSON.stringify(headers || {});
    if (socket && socketHeaders === key) {
      return socket;
    }
    if (socket) {
      socket.dispose();
    }
    socketHeaders = key;
    socket = graphqlWs.createClient({
      url: wsUrl,
      lazy: true,
      connectionParams: function () {
        return { headers: headers || {} };
      },
    });
    return socket;
  }

  function isSubscription(params, options) {
    var ast = options && options.documentAST;
    if (!ast) {
      return /^\s*subscription\b/.test(params.query);
    }
    return ast.definitions.some(function (definition) {
      return (
        definition.kind === 'OperationDefinition' &&
        definition.operation === 'subscription' &&
        (!params.operationName || (definition.name && definition.name.value === params.operationName))
      );
    });
  }

  // Headers left as the template ("Bearer " with no token) are not sent.
  function usableHeaders(headers) {
    var usable = {};
    Object.keys(headers || {}).forEach(function (name) {
      var value = String(headers[name]).trim();
      if (value !== '' && value.toLowerCase() !== 'bearer') {
        usable[name] = value;
      }
    });
    return usable;
  }

  function fetcher(params, options) {
    var headers = usableHeaders(options && options.headers);
    if (isSubscription(params, options)) {
      var client = wsClient(headers);
      return {
        subscribe: function (observer) {
          var dispose = client.subscribe(params, {
            next: function (value) { observer.next(value); },
            error: function (error) {
              if (error instanceof CloseEvent || (error && error.code)) {
                observer.error(new Error('socket closed: ' + error.code + ' ' + (error.reason || '')));
              } else {
                observer.error(error);
              }
            },
            complete: function () { observer.complete(); },
          });
          return { unsubscribe: dispose };
        },
      };
    }
    var requestHeaders = { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json;q=0.9' };
    Object.keys(headers).forEach(function (name) { requestHeaders[name] = headers[name]; });
    return fetch(endpoint, {
      method: 'POST',
      headers: requestHeaders,
      body: JSON.stringify(params),
      credentials: 'omit',
    }).then(function (response) { return response.json(); });
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: 'headers',
      defaultHeaders: '{\n  "Authorization": "Bearer "\n}',
      shouldPersistHeaders: false,
    }),
  );
})();
