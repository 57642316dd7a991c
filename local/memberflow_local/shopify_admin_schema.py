"""The part of Shopify's Admin GraphQL schema (API 2025-10) that memberflow uses.

No package on PyPI ships Shopify's published Admin API schema, so this holds, in SDL,
a subset of it: for the operations memberflow sends (``discountCodeBasicCreate``,
``codeDiscountNodeByCode``), the arguments and every input field as Shopify's reference
documentation lists them for 2025-10 (``customerSelection`` deprecated there in favour
of ``context``), and of the objects they return the fields memberflow reads (a union
or enum keeps only the members memberflow may meet). Every name is the
documented one: never add a field the documentation does not list to make a document
pass. The local Shopify endpoint executes requests against this schema
(graphql-core), so a document with a misspelt field or a wrongly typed variable fails
locally as it would against Shopify; tests validate the adapter's documents with it.
"""

from __future__ import annotations

from functools import cache

ADMIN_SDL = """
scalar DateTime
scalar Decimal
scalar UnsignedInt64

schema { query: QueryRoot mutation: Mutation }

type QueryRoot {
  "Returns a code discount resource by code (scope read_discounts)."
  codeDiscountNodeByCode(code: String!): DiscountCodeNode
}

type Mutation {
  "Creates an amount off discount that's applied on a cart and at checkout when a customer enters a code (scope write_discounts)."
  discountCodeBasicCreate(basicCodeDiscount: DiscountCodeBasicInput!): DiscountCodeBasicCreatePayload
}

input DiscountCodeBasicInput {
  appliesOncePerCustomer: Boolean
  code: String
  combinesWith: DiscountCombinesWithInput
  context: DiscountContextInput
  customerGets: DiscountCustomerGetsInput
  customerSelection: DiscountCustomerSelectionInput @deprecated(reason: "Use `context` instead.")
  endsAt: DateTime
  minimumRequirement: DiscountMinimumRequirementInput
  recurringCycleLimit: Int
  startsAt: DateTime
  title: String
  usageLimit: Int
}

input DiscountCombinesWithInput {
  orderDiscounts: Boolean
  productDiscounts: Boolean
  shippingDiscounts: Boolean
}

enum DiscountBuyerSelection { ALL }

input DiscountContextInput {
  all: DiscountBuyerSelection
  customers: DiscountCustomersInput
  customerSegments: DiscountCustomerSegmentsInput
}

input DiscountCustomerSelectionInput {
  all: Boolean
  customers: DiscountCustomersInput
  customerSegments: DiscountCustomerSegmentsInput
}

input DiscountCustomersInput { add: [ID!] remove: [ID!] }
input DiscountCustomerSegmentsInput { add: [ID!] remove: [ID!] }

input DiscountCustomerGetsInput {
  appliesOnOneTimePurchase: Boolean
  appliesOnSubscription: Boolean
  items: DiscountItemsInput
  value: DiscountCustomerGetsValueInput
}

input DiscountCustomerGetsValueInput {
  discountAmount: DiscountAmountInput
  discountOnQuantity: DiscountOnQuantityInput
  percentage: Float
}

input DiscountAmountInput { amount: Decimal appliesOnEachItem: Boolean }
input DiscountOnQuantityInput { effect: DiscountEffectInput quantity: UnsignedInt64 }
input DiscountEffectInput { percentage: Float }

input DiscountItemsInput {
  all: Boolean
  collections: DiscountCollectionsInput
  products: DiscountProductsInput
}
input DiscountCollectionsInput { add: [ID!] remove: [ID!] }
input DiscountProductsInput {
  productVariantsToAdd: [ID!]
  productVariantsToRemove: [ID!]
  productsToAdd: [ID!]
  productsToRemove: [ID!]
}

input DiscountMinimumRequirementInput {
  quantity: DiscountMinimumQuantityInput
  subtotal: DiscountMinimumSubtotalInput
}
input DiscountMinimumQuantityInput { greaterThanOrEqualToQuantity: UnsignedInt64 }
input DiscountMinimumSubtotalInput { greaterThanOrEqualToSubtotal: Decimal }

type DiscountCodeBasicCreatePayload {
  codeDiscountNode: DiscountCodeNode
  userErrors: [DiscountUserError!]!
}

type DiscountUserError {
  code: DiscountErrorCode
  extraInfo: String
  field: [String!]
  message: String!
}

enum DiscountErrorCode {
  BLANK CONFLICT DUPLICATE EXCEEDED_MAX GREATER_THAN INCLUSION INTERNAL_ERROR INVALID
  LESS_THAN PRESENT TAKEN TOO_LONG TOO_SHORT VALUE_OUTSIDE_RANGE
}

type DiscountCodeNode {
  codeDiscount: DiscountCode!
  id: ID!
}

union DiscountCode = DiscountCodeBasic

type DiscountCodeBasic {
  appliesOncePerCustomer: Boolean!
  asyncUsageCount: Int!
  context: DiscountContext!
  endsAt: DateTime
  startsAt: DateTime!
  status: DiscountStatus!
  title: String!
  usageLimit: Int
}

enum DiscountStatus { ACTIVE EXPIRED SCHEDULED }

union DiscountContext = DiscountBuyerSelectionAll | DiscountCustomers | DiscountCustomerSegments

type DiscountBuyerSelectionAll { all: DiscountBuyerSelection! }
type DiscountCustomers { customers: [Customer!]! }
type DiscountCustomerSegments { segments: [Segment!]! }
type Customer { id: ID! }
type Segment { id: ID! }
"""


@cache
def admin_schema():
    """The schema, built once (graphql-core)."""
    from graphql import build_schema

    return build_schema(ADMIN_SDL)
