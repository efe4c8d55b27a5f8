-- The SQL that Orders' CreateOrder sends, as pgbench script: the anchor its
-- closed-loop throughput is compared with (bench/anchors.py runs it).
--
-- It MIRRORS orders/handlers.py `_create_order`, orders/store.py
-- (`lock_cart`, `read_items_and_stock`, `insert_order`), orders/events.py
-- and meshkit/db.py as of the commit that made stock taking optimistic:
-- one statement per round trip, 6 in all. It MUST BE UPDATED WITH THEM. To see
-- what they send now, set `log_statement = all` on a scratch server and place
-- an order. Left out: the ping of a pooled connection idle for over a second
-- (meshkit/db.py), which a busy pool never sends.
--
-- The data is the bench's own (bench/data.py, whose layout rules these
-- \set lines repeat); bench/anchors.py passes its ids with -D:
--   first_cart, first_customer, customers, first_product, products,
--   first_warehouse, warehouses, clients, tag, and n=0.
-- Each transaction orders a cart no one else takes: client c's j-th
-- transaction takes cart c + j * clients (`n` counts per client, as pgbench
-- keeps each client's variables from one transaction to the next).
--
-- pgbench sends it in simple query mode (the default), as psycopg2 does.
-- What it cannot do like Orders: serialize protobuf, so the two outbox
-- payloads are fixed messages of the usual size; make event ids, which
-- gen_random_uuid() makes instead; and choose the warehouse, which it knows
-- from the layout.

\set k :client_id + :n * :clients
\set n :n + 1
\set cart :first_cart + :k
\set ci :k % :customers
\set customer :first_customer + :ci
\set warehouse :first_warehouse + :ci % :warehouses
\set pa :k % :products
\set pb (:pa + 1 + (:k / :products) % (:products - 1)) % :products
\set lo least(:pa, :pb)
\set hi greatest(:pa, :pb)
\set product_lo :first_product + :lo
\set product_hi :first_product + :hi
\set price_lo 100 + 10 * :lo
\set price_hi 100 + 10 * :hi
\set total :price_lo + :price_hi

BEGIN;
-- meshkit/db.py: no statement may outlive the call's 5 s deadline.
SELECT set_config('statement_timeout', '4900', true);
-- Lock the cart, with its customer's address, the order a first attempt with
-- this request id placed (none here) and the new order's id.
SELECT c.id, c.customer_id, c.state, c.order_id, cu.recipient, cu.line1, cu.city, cu.postal_code, cu.country_code, cu.latitude, cu.longitude, (SELECT o.id FROM orders o WHERE o.customer_id = :customer AND o.request_id = 'pgbench-:tag-:k') AS retried, nextval(pg_get_serial_sequence('orders', 'id')) AS next_order_id FROM carts c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = :cart FOR UPDATE OF c \gset c_
-- The cart's items, and its products' stock in every warehouse, read
-- without locks.
WITH items AS (SELECT i.product_id, i.quantity, p.sku, p.name, p.price_minor, p.currency_code FROM cart_items i JOIN products p ON p.id = i.product_id WHERE i.cart_id = :cart), stocked AS (SELECT s.warehouse_id, s.product_id, s.available, w.name, w.latitude, w.longitude FROM stock s JOIN warehouses w ON w.id = s.warehouse_id WHERE s.product_id IN (SELECT product_id FROM items) ORDER BY s.warehouse_id, s.product_id) SELECT (SELECT coalesce(json_agg(json_build_array(product_id, quantity, sku, name, price_minor, currency_code) ORDER BY product_id), '[]') FROM items), (SELECT coalesce(json_agg(json_build_array(warehouse_id, product_id, available, name, latitude, longitude)), '[]') FROM stocked);
-- Everything it writes, in one statement: take the units, insert the order,
-- its lines and allocations, close the cart, queue Shipping's alert and the
-- customer's confirmation. Stock is taken only where it is still there, its
-- rows locked in order; in the bench it always is.
WITH taken AS (UPDATE stock s SET available = s.available - t.units FROM (SELECT k.warehouse_id, k.product_id, w.units FROM stock k JOIN unnest(CAST(ARRAY[:warehouse,:warehouse] AS bigint[]), CAST(ARRAY[:product_lo,:product_hi] AS bigint[]), CAST(ARRAY[1,1] AS integer[])) AS w (warehouse_id, product_id, units) ON k.warehouse_id = w.warehouse_id AND k.product_id = w.product_id ORDER BY k.warehouse_id, k.product_id FOR UPDATE OF k) AS t WHERE s.warehouse_id = t.warehouse_id AND s.product_id = t.product_id AND s.available >= t.units RETURNING 1), placed AS (INSERT INTO orders (id, customer_id, cart_id, request_id, state, currency_code, total_minor, version, recipient, line1, city, postal_code, country_code, latitude, longitude) VALUES (:c_next_order_id, :customer, :cart, 'pgbench-:tag-:k', 'confirmed', 'EUR', :total, 1, ':c_recipient', ':c_line1', ':c_city', ':c_postal_code', ':c_country_code', :c_latitude, :c_longitude) RETURNING create_time, update_time), lines AS (INSERT INTO order_lines (order_id, product_id, sku, name, quantity, unit_price_minor) SELECT :c_next_order_id, * FROM unnest(CAST(ARRAY[:product_lo,:product_hi] AS bigint[]), CAST(ARRAY['BENCH-:tag-:lo','BENCH-:tag-:hi'] AS text[]), CAST(ARRAY['Bench product :lo','Bench product :hi'] AS text[]), CAST(ARRAY[1,1] AS integer[]), CAST(ARRAY[:price_lo,:price_hi] AS bigint[]))), allocated AS (INSERT INTO order_allocations (order_id, warehouse_id, product_id, quantity) SELECT :c_next_order_id, * FROM unnest(CAST(ARRAY[:warehouse,:warehouse] AS bigint[]), CAST(ARRAY[:product_lo,:product_hi] AS bigint[]), CAST(ARRAY[1,1] AS integer[]))), closed AS (UPDATE carts SET state = 'ordered', order_id = :c_next_order_id, update_time = now() WHERE id = :cart), queued AS (INSERT INTO orders_outbox (event_id, topic, payload, request_id, attempts) SELECT *, 0 FROM unnest(ARRAY[gen_random_uuid(), gen_random_uuid()], CAST(ARRAY['shipping.order_alert','notifications.send'] AS text[]), CAST(ARRAY['\x08b960102a'::bytea,'\x082a12575468616e6b20796f7521204f7264657220313233343520697320636f6e6669726d65643a2032206974656d2873292c20342e3130204555522c207368697070696e672066726f6d20312077617265686f7573652873292e1a154f7264657220313233343520636f6e6669726d656428b960'::bytea] AS bytea[]), CAST(ARRAY['pgbench-:tag-:k','pgbench-:tag-:k'] AS text[]))) SELECT create_time, update_time, (SELECT count(*) FROM taken) AS taken FROM placed;
COMMIT;
