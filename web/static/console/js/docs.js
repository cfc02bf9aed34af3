// Swagger UI over our OpenAPI document; the console's token (if signed in in this tab) is pre-filled.
/* global SwaggerUIBundle */
const root = document.getElementById("swagger-ui");
const ui = SwaggerUIBundle({
  url: root.dataset.specUrl,
  domNode: root,
  deepLinking: true,
  persistAuthorization: false,
  onComplete: () => {
    const token = sessionStorage.getItem("console.access_token");
    if (token) ui.preauthorizeApiKey("bearerAuth", token);
  },
});
window.swaggerUi = ui;
